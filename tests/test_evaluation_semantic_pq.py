"""PQ of semantic predictions (mask2former.evaluation.semantic_pq and
tools/evaluate_pq_for_semantic_segmentation.py): a case counted by hand, panopticapi's own
evaluation on the same segments, and the tool on the file Detectron2's SemSegEvaluator writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from panopticapi.evaluation import pq_compute_single_core
from panopticapi.utils import id2rgb
from PIL import Image

from mask2former.data.image_io import read_label_map
from mask2former.evaluation.semantic_pq import (
    PredictionFileError,
    SemanticPQ,
    evaluate_semantic_predictions,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGNORE = 255


def test_hand_counted_case():
    gt1 = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 2, 2], [1, 1, IGNORE, IGNORE]])
    pred1 = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 2], [1, 1, 2, 2]])
    gt2 = np.zeros((4, 4), np.int64)
    pred2 = np.zeros((4, 4), np.int64)
    pred2[:2, :2][np.tril(np.ones((2, 2), bool))] = 1  # 3 pixels of class 1 where there is none
    metric = SemanticPQ(num_classes=3, ignore_label=IGNORE)
    metric.add(gt1, pred1)
    metric.add(gt2, pred2)
    # image 1: class 0: IoU 7/8 -> TP. class 1: 4 / (4 + 6 - 4) = 2/3 -> TP.
    #   class 2: intersection 1, 2 of its 3 predicted pixels on ignored ground truth:
    #   IoU 1 / (2 + 3 - 1 - 2) = 0.5, not > 0.5 -> FN; the prediction lies mostly on ignored
    #   pixels -> no FP.
    # image 2: class 0: IoU 13/16 -> TP; class 1: predicted only -> FP.
    assert metric.tp.tolist() == [2, 1, 0]
    assert metric.fp.tolist() == [0, 1, 0]
    assert metric.fn.tolist() == [0, 0, 1]
    np.testing.assert_allclose(metric.iou_sum, [7 / 8 + 13 / 16, 2 / 3, 0.0])
    pq = [(7 / 8 + 13 / 16) / 2, (2 / 3) / 1.5, 0.0]
    sq = [(7 / 8 + 13 / 16) / 2, 2 / 3, 0.0]
    rq = [1.0, 1 / 1.5, 0.0]
    # mIoU over both images, pixels on ignored ground truth left out: class 0: 20 / 24,
    # class 1: 4 / 9, class 2: 1 / 2
    results = metric.results()
    assert results["PQ"] == pytest.approx(100 * np.mean(pq))
    assert results["SQ"] == pytest.approx(100 * np.mean(sq))
    assert results["RQ"] == pytest.approx(100 * np.mean(rq))
    assert results["mIoU"] == pytest.approx(100 * np.mean([20 / 24, 4 / 9, 1 / 2]))
    assert results["num_classes"] == 3 and results["num_images"] == 2
    assert results["per_class"][1]["PQ"] == pytest.approx(100 * pq[1])


def _perturbed(gt: np.ndarray, index: int, num_classes: int) -> np.ndarray:
    """A prediction that gets some classes right, misses others, and sometimes predicts a
    class on ignored pixels: the ground truth shifted, one class relabelled, ignored pixels
    filled."""
    pred = np.roll(gt, shift=3 * index, axis=1).copy()
    pred[pred == IGNORE] = index % num_classes
    present = np.unique(gt[gt != IGNORE])
    if index % 2 and len(present):
        pred[pred == present[0]] = (present[0] + 1) % num_classes
    return pred


def _panopticapi_stat(pairs, num_classes, folder):
    """panopticapi's pq_compute_single_core on the same segments written as COCO panoptic PNGs
    (segment id = category id = class + 1, 0 = void)."""
    annotations = []
    for split in ("gt", "pred"):
        os.makedirs(os.path.join(folder, split), exist_ok=True)
    for i, (gt, pred) in enumerate(pairs):
        gt_ids = np.where(gt == IGNORE, 0, gt + 1)
        pred_ids = pred + 1
        anns = []
        for split, ids in (("gt", gt_ids), ("pred", pred_ids)):
            Image.fromarray(id2rgb(ids)).save(os.path.join(folder, split, f"{i}.png"))
            segments = [
                {"id": int(s), "category_id": int(s), "iscrowd": 0, "area": int((ids == s).sum())}
                for s in np.unique(ids)
                if s
            ]
            anns.append({"image_id": i, "file_name": f"{i}.png", "segments_info": segments})
        annotations.append(tuple(anns))
    categories = {c + 1: {"id": c + 1, "isthing": 0} for c in range(num_classes)}
    return pq_compute_single_core(
        0, annotations, os.path.join(folder, "gt"), os.path.join(folder, "pred"), categories
    )


def test_same_counts_as_panopticapi(shapes_root, tmp_path):
    records = DatasetCatalog.get("shapes_sem_seg_val") + DatasetCatalog.get("shapes_sem_seg_train")
    k = len(MetadataCatalog.get("shapes_sem_seg_val").stuff_classes)
    pairs = []
    for i, record in enumerate(records):
        gt = read_label_map(record["sem_seg_file_name"])
        pairs.append((gt, _perturbed(gt, i, k)))
    metric = SemanticPQ(k, IGNORE)
    for gt, pred in pairs:
        metric.add(gt, pred)
    reference = _panopticapi_stat(pairs, k, str(tmp_path))
    ours = metric.pq_stat()
    for c in range(k):
        theirs = reference.pq_per_cat[c + 1]
        assert (ours[c].tp, ours[c].fp, ours[c].fn) == (theirs.tp, theirs.fp, theirs.fn), c
        assert ours[c].iou == pytest.approx(theirs.iou, abs=1e-12)
    assert metric.tp.sum() > 0 and metric.fp.sum() > 0 and metric.fn.sum() > 0  # all three occur


def _one_hot_scores(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    return (
        torch.nn.functional.one_hot(torch.from_numpy(labels), num_classes).permute(2, 0, 1).float()
    )


def test_tool_on_the_semantic_evaluators_predictions(shapes_root, tmp_path):
    """The workflow of the published tool: evaluation writes sem_seg_predictions.json, the tool
    scores it; PQ as computed in-process, mIoU as Detectron2's SemSegEvaluator reports it."""
    name = "shapes_sem_seg_val"
    k = len(MetadataCatalog.get(name).stuff_classes)
    evaluator = SemSegEvaluator(name, distributed=False, output_dir=str(tmp_path))
    evaluator.reset()
    metric = SemanticPQ(k, IGNORE)
    for i, record in enumerate(DatasetCatalog.get(name)):
        gt = read_label_map(record["sem_seg_file_name"])
        pred = _perturbed(gt, i, k)
        metric.add(gt, pred)
        evaluator.process([record], [{"sem_seg": _one_hot_scores(pred, k)}])
    sem_seg = evaluator.evaluate()["sem_seg"]
    expected = metric.results()
    json_file = tmp_path / "sem_seg_predictions.json"

    in_process = evaluate_semantic_predictions(str(json_file), name)
    assert in_process["PQ"] == pytest.approx(expected["PQ"])
    assert in_process["mIoU"] == pytest.approx(sem_seg["mIoU"])
    assert set(in_process["per_class"]) <= set(MetadataCatalog.get(name).stuff_classes)

    output = tmp_path / "pq.json"
    env = dict(os.environ, DETECTRON2_DATASETS=str(shapes_root), PYTHONPATH=REPO)
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "evaluate_pq_for_semantic_segmentation.py"),
            "--dataset-name",
            name,
            "--json-file",
            str(json_file),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"{expected['PQ']:5.1f}" in run.stdout and "mIoU" in run.stdout
    assert json.loads(output.read_text())["PQ"] == pytest.approx(expected["PQ"])


def test_bad_prediction_files_are_named(shapes_root, tmp_path):
    name = "shapes_sem_seg_val"
    record = DatasetCatalog.get(name)[0]
    h, w = read_label_map(record["sem_seg_file_name"]).shape
    half = np.zeros((h, w), np.uint8)
    half[: h // 2] = 1
    rle = mask_util.encode(np.asfortranarray(half))
    rle["counts"] = rle["counts"].decode()
    cases = {
        "elsewhere.jpg": ("elsewhere.jpg", 7, rle, "not an image of dataset"),
        "uncovered": (record["file_name"], 7, rle, "without a class"),
        "unknown class": (record["file_name"], 4, rle, "category_id 4 is not a class"),
    }
    for label, (file_name, category_id, segmentation, message) in cases.items():
        path = tmp_path / f"{label}.json"
        path.write_text(
            json.dumps(
                [{"file_name": file_name, "category_id": category_id, "segmentation": segmentation}]
            )
        )
        with pytest.raises(PredictionFileError, match=message):
            evaluate_semantic_predictions(str(path), name)
    with pytest.raises(PredictionFileError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("[{")
        evaluate_semantic_predictions(str(tmp_path / "broken.json"), name)
