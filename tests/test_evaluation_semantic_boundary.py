"""Per-class Boundary IoU of the semantic evaluator: each class's boundary is that of its own
mask (hand-computed cases), where Detectron2's evaluator erodes the whole class-id map as one
mask; mIoU and the other figures stay Detectron2's."""

import math

import numpy as np
import pytest
import torch
from detectron2.evaluation import SemSegEvaluator

from mask2former.evaluation import CheckedSemSegEvaluator
from mask2former.evaluation.boundary_iou import class_boundary_overlaps

IGNORE = 255


def _halves(split_column, size=10):
    """(size, size) map: class 0 left of ``split_column``, class 1 from it on."""
    labels = np.ones((size, size), np.int64)
    labels[:, :split_column] = 0
    return labels


def test_class_boundaries_by_hand():
    # 10x10 image: the boundary width is 1 pixel; the image border is contour.
    gt, pred = _halves(5), _halves(6)
    valid = np.ones(gt.shape, bool)
    intersection, union = class_boundary_overlaps(pred, gt, 3, valid)
    # class 0: gt boundary = columns 0 and 4 and rows 0 and 9 of columns 0-4 (26 pixels),
    # predicted = columns 0 and 5 and rows 0 and 9 of columns 0-5 (28); both: rows 0 and 9 of
    # columns 0-4 and column 0 (18)
    # class 1: gt = columns 5 and 9, rows 0 and 9 of 5-9 (26); predicted = columns 6 and 9, rows
    # 0 and 9 of 6-9 (24); both: rows 0 and 9 of columns 6-9 and column 9 (16)
    np.testing.assert_array_equal(intersection, [18, 16, 0])
    np.testing.assert_array_equal(union, [26 + 28 - 18, 26 + 24 - 16, 0])


def test_ignored_pixels_belong_to_no_class():
    gt, pred = _halves(5), _halves(6)
    valid = np.ones(gt.shape, bool)
    valid[0, :] = False  # row 0 ignored: row 1 becomes contour, in both maps
    intersection, union = class_boundary_overlaps(pred, gt, 2, valid)
    # class 0: gt = rows 1 and 9 of columns 0-4 and columns 0 and 4 (24), predicted = rows 1 and
    # 9 of columns 0-5 and columns 0 and 5 (26), both = rows 1 and 9 of columns 0-4 and column 0
    assert intersection[0] == 17 and union[0] == 24 + 26 - 17
    # the same as the 9-row image without that row (same boundary width)
    cropped = class_boundary_overlaps(pred[1:], gt[1:], 2, valid[1:])
    np.testing.assert_array_equal(intersection, cropped[0])
    np.testing.assert_array_equal(union, cropped[1])


@pytest.fixture
def one_image_dataset(sem_seg_dataset):
    """``register(name, gt)``: a dataset of the one ground truth ``gt`` of classes a, b, c;
    returns its record."""

    def register(name, gt):
        (record,) = sem_seg_dataset(name, {name: gt}, ["a", "b", "c"])
        return record

    return register


def _evaluate(evaluator, record, pred):
    scores = torch.nn.functional.one_hot(torch.from_numpy(pred), 3).permute(2, 0, 1).float()
    evaluator.reset()
    evaluator.process([record], [{"sem_seg": scores}])
    return evaluator.evaluate()["sem_seg"]


def test_evaluator_reports_each_classes_boundary_iou(one_image_dataset, tmp_path):
    gt, pred = _halves(5), _halves(6)
    gt[7:, 7:] = 2  # class 2 in the ground truth only ...
    pred[0:3, 7:] = 2  # ... and predicted elsewhere: IoU 0, so Boundary IoU 0
    record = one_image_dataset("semantic_boundary_hand", gt)
    ours = _evaluate(
        CheckedSemSegEvaluator("semantic_boundary_hand", output_dir=str(tmp_path)), record, pred
    )
    intersection, union = class_boundary_overlaps(pred, gt, 3, np.ones(gt.shape, bool))
    assert ours["BoundaryIoU-c"] == 0.0 and ours["IoU-c"] == 0.0
    assert ours["min(IoU, B-Iou)-c"] == 0.0
    for index, name in enumerate("ab"):
        assert ours[f"BoundaryIoU-{name}"] == pytest.approx(
            100 * intersection[index] / union[index]
        )
        assert ours[f"min(IoU, B-Iou)-{name}"] == min(
            ours[f"IoU-{name}"], ours[f"BoundaryIoU-{name}"]
        )
    # numpy scalars, as in the file Detectron2 writes; written by this test itself
    saved = torch.load(tmp_path / "sem_seg_evaluation.pth", weights_only=False)
    assert saved == ours

    # Detectron2's figures and key order, except the boundary values it got wrong
    detectron2 = _evaluate(SemSegEvaluator("semantic_boundary_hand"), record, pred)
    assert list(ours) == list(detectron2)
    for key, value in detectron2.items():
        if "B-Iou" not in key and "BoundaryIoU" not in key:
            assert ours[key] == value or (math.isnan(ours[key]) and math.isnan(value)), key


def test_class_absent_everywhere_has_no_boundary_iou(one_image_dataset):
    gt = _halves(5)
    gt[0, 0] = IGNORE
    record = one_image_dataset("semantic_boundary_absent", gt)
    ours = _evaluate(CheckedSemSegEvaluator("semantic_boundary_absent"), record, _halves(5))
    assert math.isnan(ours["BoundaryIoU-c"])
    assert ours["BoundaryIoU-a"] == 100.0 and ours["BoundaryIoU-b"] == 100.0


def test_class_never_predicted_has_boundary_iou_zero(one_image_dataset):
    gt = _halves(5)
    record = one_image_dataset("semantic_boundary_missed", gt)
    everything_b = np.ones_like(gt)
    ours = _evaluate(CheckedSemSegEvaluator("semantic_boundary_missed"), record, everything_b)
    assert ours["IoU-a"] == 0.0 and ours["BoundaryIoU-a"] == 0.0
    # Detectron2 erodes the class-id map as one mask: the zeros of both "boundary" maps agree
    detectron2 = _evaluate(SemSegEvaluator("semantic_boundary_missed"), record, everything_b)
    assert detectron2["IoU-a"] == 0.0 and detectron2["BoundaryIoU-a"] > 50
