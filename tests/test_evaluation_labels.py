"""Semantic evaluation reports ground-truth labels outside the classes (file and values, once
per file) and counts them as ignored, where Detectron2's evaluator ignores a label equal to
the number of classes silently and fails on larger ones; metrics of valid data are unchanged."""

import logging

import numpy as np
import pytest
import torch
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from helpers.configs import make_tiny_cfg
from mask2former.evaluation import CheckedSemSegEvaluator, build_evaluator

NUM_CLASSES = 3
IGNORE = 255


def _label_maps():
    """name -> (8, 8) uint8 ground truth: a valid one, one with the value NUM_CLASSES, one with
    values far outside."""
    rng = np.random.default_rng(0)
    valid = rng.integers(0, NUM_CLASSES, (8, 8)).astype(np.uint8)
    valid[0, :3] = IGNORE
    off_by_one = valid.copy()
    off_by_one[5:, 5:] = NUM_CLASSES
    far = valid.copy()
    far[2, 2:4] = [NUM_CLASSES + 3, 200]
    return {"valid": valid, "off_by_one": off_by_one, "far": far}


def _register(sem_seg_dataset, name, stems):
    """Registers the dataset ``name`` of these label maps of _label_maps(); returns its
    records."""
    label_maps = _label_maps()
    classes = [f"class{i}" for i in range(NUM_CLASSES)]
    return sem_seg_dataset(name, {stem: label_maps[stem] for stem in stems}, classes)


def _prediction(record):
    """Scores whose argmax is the ground truth on valid pixels and class 1 elsewhere."""
    gt = np.array(Image.open(record["sem_seg_file_name"]), dtype=np.int64)
    labels = torch.from_numpy(np.where(gt < NUM_CLASSES, gt, 1))
    return {"sem_seg": torch.nn.functional.one_hot(labels, NUM_CLASSES).permute(2, 0, 1).float()}


def _evaluate(evaluator, records):
    evaluator.reset()
    for record in records:
        evaluator.process([record], [_prediction(record)])
    return evaluator.evaluate()["sem_seg"]


def test_labels_outside_the_classes_are_reported_once_per_file(sem_seg_dataset, tmp_path, caplog):
    records = _register(sem_seg_dataset, "labels_check_bad", ["valid", "off_by_one", "far"])
    evaluator = build_evaluator(make_tiny_cfg(), "labels_check_bad", str(tmp_path / "out"))
    assert isinstance(evaluator, CheckedSemSegEvaluator)
    with caplog.at_level(logging.WARNING, logger="mask2former.evaluation"):
        results = _evaluate(evaluator, records)
        _evaluate(evaluator, records)  # a second evaluation: no repeated warnings
    warnings = [r.getMessage() for r in caplog.records if "label values" in r.getMessage()]
    assert len(warnings) == 2
    off_by_one, far = records[1]["sem_seg_file_name"], records[2]["sem_seg_file_name"]
    assert warnings[0].startswith(f"{off_by_one}: label values [{NUM_CLASSES}] (9 pixels)")
    assert warnings[1].startswith(f"{far}: label values [{NUM_CLASSES + 3}, 200] (2 pixels)")
    assert "3 classes (0 to 2) of labels_check_bad nor its ignore label 255" in warnings[0]

    # the same as Detectron2's evaluator on the ground truth with those pixels set to ignore
    def cleaned(filename, dtype=int):
        labels = np.array(Image.open(filename), dtype=dtype)
        labels[(labels >= NUM_CLASSES) & (labels != IGNORE)] = IGNORE
        return labels

    reference = SemSegEvaluator(
        "labels_check_bad", output_dir=str(tmp_path / "ref"), sem_seg_loading_fn=cleaned
    )
    assert results == _evaluate(reference, records)
    assert results["mIoU"] == pytest.approx(100.0)


def test_valid_labels_give_detectron2s_metrics(sem_seg_dataset, tmp_path, caplog):
    records = _register(sem_seg_dataset, "labels_check_valid", ["valid"])
    ours = CheckedSemSegEvaluator("labels_check_valid", output_dir=str(tmp_path / "ours"))
    with caplog.at_level(logging.WARNING):
        got = _evaluate(ours, records)
    assert "label values" not in caplog.text
    assert got == _evaluate(
        SemSegEvaluator("labels_check_valid", output_dir=str(tmp_path / "ref")), records
    )
