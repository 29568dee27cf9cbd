"""Boundary IoU and Boundary AP (mask2former/evaluation/boundary_iou.py, the instance
evaluator's option and tools/evaluate_coco_boundary_ap.py): hand-computed cases, a brute-force
boundary, thin shapes whose boundary is the whole mask (Boundary AP == mask AP), and
faster-coco-eval's independent implementation."""

import contextlib
import copy
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mask2former.evaluation import InstanceSegEvaluator, boundary_iou, mask_boundary
from mask2former.evaluation.boundary_iou import BoundaryCOCOeval, dilation_pixels
from mask2former.evaluation.coco_eval import (
    CocoFileError,
    cocoeval_fn,
    evaluate_coco_files,
    evaluate_predictions_on_coco,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _square(size, rows, cols):
    mask = np.zeros(size, bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def test_dilation_width():
    assert dilation_pixels(48, 64) == 2  # 0.02 * 80 = 1.6
    assert dilation_pixels(100, 100) == 3  # 0.02 * 141.4 = 2.83
    assert dilation_pixels(10, 10) == 1  # 0.28 rounds to 0, at least 1
    assert dilation_pixels(480, 640, 0.005) == 4
    with pytest.raises(ValueError):
        dilation_pixels(10, 10, 0.0)


def test_boundary_by_hand():
    # 10x10 image: d = 1, a 6x6 square has a boundary ring of 6*6 - 4*4 pixels
    square = _square((10, 10), (2, 7), (2, 7))
    expected = square & ~_square((10, 10), (3, 6), (3, 6))
    np.testing.assert_array_equal(mask_boundary(square), expected)
    # the image border is contour: the full image has its outer ring as boundary
    full = np.ones((10, 10), bool)
    np.testing.assert_array_equal(mask_boundary(full), full & ~_square((10, 10), (1, 8), (1, 8)))
    # 100x100: d = 3, a 20x20 square keeps a 3-pixel ring
    big = _square((100, 100), (40, 59), (40, 59))
    assert mask_boundary(big).sum() == 20 * 20 - 14 * 14
    assert not mask_boundary(np.zeros((10, 10), bool)).any()


@pytest.mark.parametrize("ratio, d", [(0.05, 1), (0.1, 2), (0.15, 3)])
def test_boundary_equals_brute_force(ratio, d):
    rng = np.random.default_rng(d)
    h, w = 13, 17  # diagonal 21.4
    assert dilation_pixels(h, w, ratio) == d
    for _ in range(20):
        mask = cv2.dilate(
            (rng.random((h, w)) < 0.15).astype(np.uint8), np.ones((3, 3), np.uint8)
        ).astype(bool)
        expected = np.zeros_like(mask)
        for y, x in zip(*np.nonzero(mask)):
            window = mask[max(0, y - d) : y + d + 1, max(0, x - d) : x + d + 1]
            outside = y - d < 0 or x - d < 0 or y + d >= h or x + d >= w
            expected[y, x] = outside or not window.all()
        np.testing.assert_array_equal(mask_boundary(mask, ratio), expected)


def test_boundary_iou_by_hand():
    a = _square((10, 10), (2, 7), (2, 7))
    b = _square((10, 10), (2, 7), (3, 8))  # one column to the right
    # rings of 20 pixels each sharing their top and bottom rows (2 x 5 pixels): 10 / 30
    assert boundary_iou(a, b) == pytest.approx(1 / 3)
    assert boundary_iou(a, a) == 1.0
    # a boundary band as wide as the masks makes boundary IoU the mask IoU, 30 / 42
    assert boundary_iou(a, b, dilation_ratio=0.5) == pytest.approx(30 / 42)


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _coco(images, annotations, categories=(1,)):
    """A COCO dict: ``images`` = [(h, w)], ``annotations`` = [(image index, mask, category,
    iscrowd)]."""
    return {
        "images": [
            {"id": i + 1, "height": h, "width": w, "file_name": f"{i}.jpg"}
            for i, (h, w) in enumerate(images)
        ],
        "annotations": [
            {
                "id": j + 1,
                "image_id": i + 1,
                "category_id": c,
                "segmentation": _rle(m),
                "area": int(m.sum()),
                "bbox": list(mask_util.toBbox(_rle(m))),
                "iscrowd": crowd,
            }
            for j, (i, m, c, crowd) in enumerate(annotations)
        ],
        "categories": [{"id": c, "name": str(c)} for c in categories],
    }


def _detections(items):
    """[(image index, mask, category, score)] -> COCO results."""
    return [
        {"image_id": i + 1, "category_id": c, "segmentation": _rle(m), "score": s}
        for i, m, c, s in items
    ]


def _stats(dataset, results, fn):
    coco = COCO()
    coco.dataset = copy.deepcopy(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        return evaluate_predictions_on_coco(coco, copy.deepcopy(results), "segm", fn).stats


def _hand_case():
    """Two 10x10 images (d = 1), one ground-truth square each; image 1 detected exactly
    (score 0.9), image 2 one column off (score 0.8): mask IoU 30/42, boundary IoU 1/3."""
    a = _square((10, 10), (2, 7), (2, 7))
    b = _square((10, 10), (2, 7), (3, 8))
    dataset = _coco([(10, 10), (10, 10)], [(0, a, 1, 0), (1, a, 1, 0)])
    return dataset, _detections([(0, a, 1, 0.9), (1, b, 1, 0.8)])


# Mask AP: at IoU thresholds 0.50..0.70 both detections match (AP 1); at 0.75..0.95 only the
# first, so precision 1 up to recall 1/2: 51 of 101 recall points. Boundary AP: the shifted
# detection never matches (min(0.71, 0.33) < 0.5): 51/101 at every threshold.
HAND_MASK_AP = 0.5 + 0.5 * 51 / 101
HAND_BOUNDARY_AP = 51 / 101


@pytest.mark.parametrize("fast", [False, True])
def test_boundary_ap_by_hand(fast):
    dataset, results = _hand_case()
    assert _stats(dataset, results, cocoeval_fn(fast))[0] == pytest.approx(HAND_MASK_AP)
    boundary = _stats(dataset, results, cocoeval_fn(fast, 0.02))
    assert boundary[0] == pytest.approx(HAND_BOUNDARY_AP)
    assert boundary[1] == pytest.approx(HAND_BOUNDARY_AP)  # AP50
    # a boundary band covering whole masks: Boundary AP is mask AP
    assert _stats(dataset, results, cocoeval_fn(fast, 0.5))[0] == pytest.approx(HAND_MASK_AP)


def test_crowd_regions_keep_mask_iou():
    """A detection inside a crowd region is ignored by mask IoU (intersection over the
    detection's area); boundary IoU must not turn it into a false positive."""
    crowd = _square((40, 40), (0, 39), (0, 19))
    thing = _square((40, 40), (10, 30), (25, 35))
    dataset = _coco([(40, 40)], [(0, crowd, 1, 1), (0, thing, 1, 0)])
    results = _detections([(0, _square((40, 40), (5, 20), (3, 12)), 1, 0.95), (0, thing, 1, 0.9)])
    assert _stats(dataset, results, cocoeval_fn(False, 0.02))[0] == pytest.approx(1.0)


def _thin_scene(rng, size=64):
    """Bars 1 to 4 pixels wide: with d = 2 (64x64) every pixel is boundary."""
    masks = []
    for _ in range(rng.integers(2, 5)):
        mask = np.zeros((size, size), bool)
        width, length = int(rng.integers(1, 5)), int(rng.integers(8, 40))
        y, x = rng.integers(0, size - 40, 2)
        if rng.random() < 0.5:
            mask[y : y + width, x : x + length] = True
        else:
            mask[y : y + length, x : x + width] = True
        masks.append(mask)
    return masks


def test_thin_shapes_boundary_ap_equals_mask_ap():
    rng = np.random.default_rng(0)
    images, annotations, detections = [], [], []
    for i in range(20):
        images.append((64, 64))
        for mask in _thin_scene(rng):
            assert (mask_boundary(mask) == mask).all()  # the premise: boundary == mask
            category = int(rng.integers(1, 3))
            annotations.append((i, mask, category, 0))
            for _ in range(2):
                moved = np.roll(mask, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
                detections.append(
                    (
                        i,
                        moved,
                        category if rng.random() < 0.8 else 3 - category,
                        float(rng.random()),
                    )
                )
    dataset, results = _coco(images, annotations, (1, 2)), _detections(detections)
    mask_stats = _stats(dataset, results, cocoeval_fn(False))
    assert 0.05 < mask_stats[0] < 0.95  # a non-trivial AP
    np.testing.assert_allclose(
        _stats(dataset, results, cocoeval_fn(False, 0.02)), mask_stats, atol=1e-12
    )


def _generated_instances(rng, num_images=30):
    images, annotations, detections = [], [], []
    for i in range(num_images):
        h, w = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        images.append((h, w))
        for _ in range(int(rng.integers(1, 7))):
            mask = np.zeros((h, w), np.uint8)
            cv2.circle(
                mask,
                (int(rng.integers(0, w)), int(rng.integers(0, h))),
                int(rng.integers(3, 30)),
                1,
                -1,
            )
            category = int(rng.integers(1, 4))
            annotations.append((i, mask.astype(bool), category, int(rng.random() < 0.1)))
            for _ in range(2):
                moved = np.roll(mask.astype(bool), tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
                wrong = rng.random() < 0.2
                detections.append(
                    (i, moved, int(rng.integers(1, 4)) if wrong else category, float(rng.random()))
                )
    return _coco(images, annotations, (1, 2, 3)), _detections(detections)


@pytest.mark.parametrize("ratio", [0.02, 0.1])
def test_same_boundary_ap_as_faster_coco_eval(ratio):
    """faster-coco-eval's C++ boundary ("boundary" iouType) is an independent implementation."""
    dataset, results = _generated_instances(np.random.default_rng(1))
    ours = _stats(
        dataset, results, lambda gt, dt, iou_type: BoundaryCOCOeval(gt, dt, iou_type, ratio)
    )
    theirs = _stats(dataset, results, cocoeval_fn(True, ratio))
    assert 0.05 < ours[0] < 0.95
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert ours[0] < _stats(dataset, results, lambda gt, dt, t: COCOeval(gt, dt, t))[0]  # stricter


def _perfect_and_shifted_instances(coco, record, to_contiguous):
    import torch
    from detectron2.structures import BitMasks, Instances

    anns = coco.loadAnns(coco.getAnnIds(imgIds=[record["image_id"]], iscrowd=False))
    masks = [coco.annToMask(a).astype(bool) for a in anns]
    masks += [np.roll(m, 2, axis=1) for m in masks]  # each instance again, shifted, lower score
    h, w = coco.imgs[record["image_id"]]["height"], coco.imgs[record["image_id"]]["width"]
    instances = Instances((h, w))
    instances.pred_masks = (
        torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, h, w, dtype=torch.bool)
    )
    instances.pred_boxes = BitMasks(instances.pred_masks).get_bounding_boxes()
    instances.scores = torch.tensor([1.0] * len(anns) + [0.5] * len(anns))
    instances.pred_classes = torch.tensor(
        [to_contiguous[a["category_id"]] for a in anns] * 2, dtype=torch.int64
    )
    return {"instances": instances}


@pytest.mark.parametrize("fast", [False, True])
def test_instance_evaluator_option(shapes_root, tmp_path, fast):
    name = "shapes_instance_val"
    meta = MetadataCatalog.get(name)
    coco = COCO(meta.json_file)
    records = DatasetCatalog.get(name)

    def run(**options):
        evaluator = InstanceSegEvaluator(
            name, output_dir=str(tmp_path), use_fast_impl=fast, **options
        )
        evaluator.reset()
        for record in records:
            evaluator.process(
                [record],
                [
                    _perfect_and_shifted_instances(
                        coco, record, meta.thing_dataset_id_to_contiguous_id
                    )
                ],
            )
        return evaluator.evaluate()

    plain = run()
    assert "boundary" not in plain  # off by default
    with_boundary = run(boundary_dilation_ratio=0.02)
    for task in ("segm", "bbox"):  # unchanged by the option
        assert with_boundary[task] == pytest.approx(plain[task], nan_ok=True)
    # the shifted copies are false positives below every true positive: AP 100 either way
    assert with_boundary["boundary"]["AP"] == pytest.approx(100.0)
    written = str(tmp_path / "coco_instances_results.json")
    with contextlib.redirect_stdout(io.StringIO()):
        from_file = evaluate_coco_files(meta.json_file, written, "boundary", 0.02, fast)
    assert with_boundary["boundary"]["AP"] == pytest.approx(100 * from_file.stats[0])


def test_tool(tmp_path):
    dataset, results = _hand_case()
    gt, dt = tmp_path / "gt.json", tmp_path / "dt.json"
    gt.write_text(json.dumps(dataset))
    dt.write_text(json.dumps(results))
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "evaluate_coco_boundary_ap.py"),
            "--gt-json-file",
            str(gt),
            "--dt-json-file",
            str(dt),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=REPO),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Boundary AP (dilation ratio 0.02)" in run.stdout
    assert f"{100 * HAND_BOUNDARY_AP:.3f}" in run.stdout


def test_bad_files_are_named(tmp_path):
    dataset, results = _hand_case()
    gt, dt = tmp_path / "gt.json", tmp_path / "dt.json"
    gt.write_text(json.dumps(dataset))
    dt.write_text(json.dumps([dict(results[0], image_id=99)]))
    with pytest.raises(CocoFileError, match=r"dt.json: detections for image ids \[99\]"):
        evaluate_coco_files(str(gt), str(dt))
    with pytest.raises(CocoFileError, match="missing.json: ground-truth file not found"):
        evaluate_coco_files(str(tmp_path / "missing.json"), str(dt))
    dt.write_text("[]")
    with pytest.raises(CocoFileError, match="non-empty list"):
        evaluate_coco_files(str(gt), str(dt))
