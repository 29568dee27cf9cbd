"""faster-coco-eval in the COCO instance evaluation: the same numbers as pycocotools on
generated predictions, through the evaluator and through its COCOeval; and
tools/benchmark_coco_eval.py at a tiny size."""

import contextlib
import copy
import io

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BitMasks, Instances
from pycocotools.coco import COCO

from helpers.scripts import load_script
from mask2former.evaluation import (
    InstanceSegEvaluator,
    cocoeval_fn,
    fast_cocoeval_available,
)
from mask2former.evaluation.coco_eval import evaluate_predictions_on_coco


def test_faster_coco_eval_is_installed():
    assert fast_cocoeval_available(), "faster-coco-eval (requirements.txt) is not installed"


def _predicted_instances(coco, record, to_contiguous, rng):
    """Each non-crowd ground truth found 0-2 times (shifted, grown or shrunk), sometimes with
    the wrong class, plus a false positive now and then; random scores."""
    image = coco.imgs[record["image_id"]]
    h, w = image["height"], image["width"]
    masks, classes = [], []
    kernel = np.ones((3, 3), np.uint8)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[record["image_id"]], iscrowd=False)):
        mask = coco.annToMask(ann)
        for _ in range(int(rng.integers(0, 3))):
            change = rng.integers(3)
            if change == 0:
                found = np.roll(mask, tuple(rng.integers(-5, 6, 2)), axis=(0, 1))
            else:
                found = (cv2.dilate if change == 1 else cv2.erode)(
                    mask, kernel, iterations=int(rng.integers(1, 4))
                )
            category = to_contiguous[ann["category_id"]]
            masks.append(found.astype(bool))
            classes.append(
                category if rng.random() < 0.85 else int(rng.integers(len(to_contiguous)))
            )
    if rng.random() < 0.5:
        blob = np.zeros((h, w), np.uint8)
        cv2.circle(
            blob, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(5, 20)), 1, -1
        )
        masks.append(blob.astype(bool))
        classes.append(int(rng.integers(len(to_contiguous))))
    instances = Instances((h, w))
    instances.pred_masks = (
        torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, h, w, dtype=torch.bool)
    )
    instances.pred_boxes = BitMasks(instances.pred_masks).get_bounding_boxes()
    instances.scores = torch.from_numpy(rng.random(len(masks))).float()
    instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
    return {"instances": instances}


@pytest.fixture
def generated_predictions(shapes_root):
    name = "shapes_instance_train"
    meta = MetadataCatalog.get(name)
    coco = COCO(meta.json_file)
    rng = np.random.default_rng(0)
    records = DatasetCatalog.get(name)
    outputs = [
        _predicted_instances(coco, r, meta.thing_dataset_id_to_contiguous_id, rng) for r in records
    ]
    return name, records, outputs


def _evaluate(name, records, outputs, fast, tmp_path):
    evaluator = InstanceSegEvaluator(name, output_dir=str(tmp_path), use_fast_impl=fast)
    assert evaluator._fast_cocoeval == fast
    evaluator.reset()
    for record, output in zip(records, outputs):
        evaluator.process([record], [output])
    with contextlib.redirect_stdout(io.StringIO()):
        return evaluator.evaluate()


def test_evaluator_gives_pycocotools_numbers(generated_predictions, tmp_path):
    name, records, outputs = generated_predictions
    official = _evaluate(name, records, outputs, False, tmp_path)
    fast = _evaluate(name, records, outputs, True, tmp_path)
    assert 5 < official["segm"]["AP"] < 95 and 5 < official["bbox"]["AP"] < 95  # non-trivial
    for task in ("segm", "bbox"):  # every metric, per-category APs included
        assert fast[task] == pytest.approx(official[task], abs=1e-9, nan_ok=True), task


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_cocoeval_precision_and_recall_arrays_equal(generated_predictions, tmp_path, iou_type):
    name, records, outputs = generated_predictions
    evaluator = InstanceSegEvaluator(name, output_dir=str(tmp_path))
    evaluator.reset()
    for record, output in zip(records, outputs):
        evaluator.process([record], [output])
    results = [r for p in evaluator._predictions for r in p["instances"]]
    evaluator._to_dataset_category_ids(results)
    evals = {}
    for fast in (False, True):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(evaluator._coco_api.dataset)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt.createIndex()
            evals[fast] = evaluate_predictions_on_coco(
                coco_gt, copy.deepcopy(results), iou_type, cocoeval_fn(fast)
            )
    for key in ("precision", "recall"):
        np.testing.assert_allclose(evals[True].eval[key], evals[False].eval[key], atol=1e-12)
    np.testing.assert_allclose(evals[True].stats, evals[False].stats, atol=1e-12)


def test_benchmark_tool_prints_both_backends(capsys):
    tool = load_script("tools/benchmark_coco_eval.py")
    assert tool.main(["--images", "4", "--size", "64", "96", "--iou-types", "segm"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| segm |")]
    (row,) = rows
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")
    assert float(cells[4]) < 1e-9  # same numbers
