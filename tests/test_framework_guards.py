"""Guards of what the package takes from its frameworks beyond their public API: each private
attribute or function wrapped in mask2former/_private_api.py still exists and still has the
effect relied on, each protected hook the package overrides still exists, and each framework
body the package re-implements is still the version it was reviewed against. A failure here
after upgrading PyTorch, Detectron2, fvcore or pycocotools names what to review."""

import contextlib
import hashlib
import inspect
import io
import os
import pickle

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultTrainer
from detectron2.evaluation import COCOEvaluator, SemSegEvaluator
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import nn

from mask2former._private_api import (
    clear_checkpoint_url,
    compared_annotations,
    evaluate_predictions_on_coco,
    let_grad_scaler_unscale_first,
    skip_sem_seg_boundary_iou,
)
from mask2former.checkpoint import AtomicCheckpointer, MaskFormerCheckpointer
from mask2former.checkpoint.formats import CheckpointReadError
from mask2former.evaluation import InstanceSegEvaluator

# ---- private attributes and functions (mask2former/_private_api.py) ----


def _gradient_seen_by_step(unscale_first: bool) -> float:
    """The gradient that a fused AdamW's ``step`` sees when GradScaler (scale 1024) steps it,
    for a loss whose gradient is 3."""
    seen = []

    class RecordingAdamW(torch.optim.AdamW):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["params"][0].grad.item())
            return super().step(closure)

    weight = nn.Parameter(torch.ones(()))
    optimizer = RecordingAdamW([weight], lr=0.1, fused=True)
    if unscale_first:
        let_grad_scaler_unscale_first(optimizer)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(weight * 3.0).backward()
    scaler.step(optimizer)
    return seen[0]


def test_grad_scaler_hands_clipping_optimizers_unscaled_gradients():
    # the fused kernel unscales inside its step, so GradScaler passes the gradient scaled ...
    assert _gradient_seen_by_step(unscale_first=False) == 3.0 * 1024
    # ... unless told that the optimizer's step needs them unscaled (it clips first)
    assert _gradient_seen_by_step(unscale_first=True) == 3.0


@pytest.fixture
def good_and_bad_checkpoints(tmp_path):
    """(the weights of a Linear(2, 2), a checkpoint of them, a file that is no checkpoint)"""
    weights = nn.Linear(2, 2).state_dict()
    good = tmp_path / "good.pth"
    torch.save({"model": weights}, good)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    return weights, str(good), str(bad)


def test_detection_checkpointer_needs_its_url_cleared_after_a_failed_load(good_and_bad_checkpoints):
    _, good, bad = good_and_bad_checkpoints
    checkpointer = DetectionCheckpointer(nn.Linear(2, 2))
    with pytest.raises(pickle.UnpicklingError):
        checkpointer.load(bad)
    with pytest.raises(AssertionError):  # the state the failed load left behind
        checkpointer.load(good)
    clear_checkpoint_url(checkpointer)
    checkpointer.load(good)  # loads again


def test_maskformer_checkpointer_loads_after_a_failed_load(good_and_bad_checkpoints):
    weights, good, bad = good_and_bad_checkpoints
    checkpointer = MaskFormerCheckpointer(nn.Linear(2, 2))
    with pytest.raises(CheckpointReadError):
        checkpointer.load(bad)
    checkpointer.load(good)
    assert torch.equal(checkpointer.model.weight, weights["weight"])


def _square(top, left, size=4, shape=(10, 10)):
    mask = np.zeros(shape, np.uint8)
    mask[top : top + size, left : left + size] = 1
    return mask_util.encode(np.asfortranarray(mask))


def _coco(annotations):
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "height": 10, "width": 10}, {"id": 2, "height": 10, "width": 10}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": annotations,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _ground_truth():
    boxes = [(1, 1, 0, 0), (1, 2, 5, 5), (2, 1, 3, 3)]  # image, category, top, left
    annotations = []
    for i, (image, category, top, left) in enumerate(boxes, start=1):
        rle = _square(top, left)
        annotations.append(
            {
                "id": i,
                "image_id": image,
                "category_id": category,
                "segmentation": rle,
                "area": float(mask_util.area(rle)),
                "bbox": mask_util.toBbox(rle).tolist(),
                "iscrowd": 0,
            }
        )
    return _coco(annotations)


def _detections():
    rng = np.random.default_rng(0)
    results = []
    for image in (1, 2):
        for _ in range(6):
            top, left = rng.integers(0, 7, 2)
            rle = _square(int(top), int(left))
            rle["counts"] = rle["counts"].decode()
            results.append(
                {
                    "image_id": image,
                    "category_id": int(rng.integers(1, 3)),
                    "segmentation": rle,
                    "score": float(rng.random()),
                }
            )
    return results


@pytest.mark.parametrize("use_cats", [1, 0])
def test_compared_annotations_are_the_pairs_cocoeval_compares(use_cats):
    coco_gt = _ground_truth()
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(_detections()), "segm")
        evaluator.params.maxDets = [1, 2, 3]  # fewer than the detections: the cut matters
        evaluator.params.useCats = use_cats
        evaluator.evaluate()
    compared = 0
    for (image, category), ious in evaluator.ious.items():
        gts, dts = compared_annotations(evaluator, image, category)
        if not len(ious):
            assert not gts or not dts
            continue
        expected = mask_util.iou(
            [d["segmentation"] for d in dts], [g["segmentation"] for g in gts], [0] * len(gts)
        )
        np.testing.assert_array_equal(ious, expected)
        compared += 1
    assert compared >= 2


def test_evaluate_predictions_on_coco_runs_the_given_cocoeval():
    coco_gt = _ground_truth()
    perfect = []
    for ann in coco_gt.dataset["annotations"]:
        segmentation = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].decode())
        perfect.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "segmentation": segmentation,
                "score": 1.0,
                "bbox": [0, 0, 10, 10],
            }
        )
    used = []

    def recording_cocoeval(gt, dt, iou_type):
        used.append(iou_type)
        return COCOeval(gt, dt, iou_type)

    with contextlib.redirect_stdout(io.StringIO()):
        evaluated = evaluate_predictions_on_coco(
            coco_gt,
            perfect,
            "segm",
            recording_cocoeval,
            img_ids=[1, 2],
            max_dets_per_image=[1, 10, 100],
        )
    assert used == ["segm"]
    assert evaluated.stats[0] == pytest.approx(1.0)  # AP of perfect masks, whatever their boxes
    assert evaluated.params.imgIds == [1, 2]


@pytest.mark.parametrize("skip", [False, True])
def test_sem_seg_evaluator_skips_its_boundary_iou_when_told(tmp_path, skip):
    labels = np.zeros((8, 8), np.uint8)
    labels[:, 4:] = 1
    Image.fromarray(labels).save(tmp_path / "gt.png")
    record = {"file_name": "image.jpg", "sem_seg_file_name": str(tmp_path / "gt.png")}
    name = f"guard_sem_seg_boundary_{skip}"
    DatasetCatalog.register(name, lambda: [record])
    MetadataCatalog.get(name).set(stuff_classes=["a", "b"], ignore_label=255)
    try:
        evaluator = SemSegEvaluator(name, distributed=False)
        if skip:
            skip_sem_seg_boundary_iou(evaluator)
        evaluator.reset()
        scores = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 2).permute(2, 0, 1)
        evaluator.process([record], [{"sem_seg": scores.float()}])
        results = evaluator.evaluate()["sem_seg"]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert ("BoundaryIoU-a" in results) is not skip
    assert results["mIoU"] == 100.0


# ---- protected hooks the package overrides ----

OVERRIDDEN_HOOKS = {
    MaskFormerCheckpointer: [
        "load",
        "resume_or_load",
        "_load_file",
        "_torch_load",
        "_load_model",
        "_log_incompatible_keys",
    ],
    AtomicCheckpointer: ["save"],
    InstanceSegEvaluator: ["_eval_predictions"],
}


@pytest.mark.parametrize("cls", list(OVERRIDDEN_HOOKS), ids=lambda cls: cls.__name__)
def test_overridden_hooks_still_exist_in_the_framework(cls):
    framework_bases = [
        base for base in cls.__mro__ if not base.__module__.startswith("mask2former")
    ]
    for name in OVERRIDDEN_HOOKS[cls]:
        assert name in vars(cls), f"{cls.__name__} no longer overrides {name}: update this list"
        assert any(name in vars(base) for base in framework_bases), (
            f"{cls.__name__}.{name} overrides a method that {framework_bases[0].__name__} no "
            "longer has: the override is never called"
        )


def test_atomic_checkpointer_writes_every_file_through_its_path_manager(tmp_path, monkeypatch):
    """fvcore's Checkpointer.save and tag_last_checkpoint open their files with the
    checkpointer's path manager, which AtomicCheckpointer makes write atomically: both files
    are renamed into place from a temporary file."""
    renamed = []
    replace = os.replace

    def recording_replace(source, target):
        renamed.append((os.path.basename(source), os.path.basename(target)))
        replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    AtomicCheckpointer(nn.Linear(2, 2), str(tmp_path)).save("model_0000009")
    assert [target for _, target in renamed] == ["model_0000009.pth", "last_checkpoint"]
    assert all(
        source.startswith(f".{target}.") and source.endswith(".tmp") for source, target in renamed
    )


# ---- framework bodies the package re-implements ----

# framework function -> (SHA-256 of its source when last reviewed, what re-implements it)
REVIEWED_SOURCES = {
    DefaultTrainer.__init__: (
        "d7a2d8646201904756a9ea89a504933a9dacff5a923192368c757a31b0999b05",
        "mask2former/engine/trainer.py: Trainer.__init__",
    ),
    COCOEvaluator.__init__: (
        "00c6fc73dbf326743f2a0236931e17c0f776423a0a59c28d70c788e776e807e1",
        "mask2former/evaluation/instance_evaluation.py: InstanceSegEvaluator (the attributes "
        "its _eval_predictions reads)",
    ),
    COCOEvaluator._eval_predictions: (
        "af889c28df2ab0c90f268bd8fef91bfbdf83cc4fe75cec5f4f487dfb99bbc6d5",
        "mask2former/evaluation/instance_evaluation.py: InstanceSegEvaluator._eval_predictions",
    ),
}


@pytest.mark.parametrize("function", list(REVIEWED_SOURCES), ids=lambda f: f.__qualname__)
def test_reimplemented_framework_bodies_are_the_reviewed_versions(function):
    expected, ours = REVIEWED_SOURCES[function]
    actual = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    assert actual == expected, (
        f"{function.__module__}.{function.__qualname__} changed in this framework version: "
        f"review {ours}, which re-implements it, then record its new hash {actual} here"
    )
