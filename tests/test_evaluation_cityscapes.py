"""Cityscapes evaluators (cityscapesscripts) chosen by build_evaluator and run on a miniature
Cityscapes ground-truth tree with perfect and with deliberately wrong predictions."""

import numpy as np
import pytest
import torch
from cityscapesscripts.helpers.labels import name2label
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import (
    CityscapesInstanceEvaluator,
    CityscapesSemSegEvaluator,
    DatasetEvaluators,
)
from detectron2.structures import Instances
from PIL import Image

from helpers.configs import make_tiny_cfg_with_outputs
from mask2former.evaluation import build_evaluator

THING_CLASSES = ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
H, W = 64, 128


def _scene(index):
    """Label ids and instance ids of one image: sky over road, two cars and a person."""
    label_ids = np.full((H, W), name2label["sky"].id, np.uint8)
    label_ids[H // 2 :] = name2label["road"].id
    instance_ids = label_ids.astype(np.int32)
    boxes = [("car", 30, 10, 60, 40), ("car", 30, 70, 60, 100 + index), ("person", 5, 45, 50, 60)]
    counters = {}
    for name, y0, x0, y1, x1 in boxes:
        label = name2label[name].id
        label_ids[y0:y1, x0:x1] = label
        instance_ids[y0:y1, x0:x1] = label * 1000 + counters.get(name, 0)
        counters[name] = counters.get(name, 0) + 1
    return label_ids, instance_ids


@pytest.fixture(scope="module")
def cityscapes_val(tmp_path_factory):
    """gtFine/val/<city>/*_gtFine_{labelIds,instanceIds}.png for 2 frames; registers
    'mini_cityscapes_{sem_seg,instance,panoptic}' pointing at it."""
    root = tmp_path_factory.mktemp("cityscapes")
    gt_dir = root / "gtFine" / "val"
    (gt_dir / "aachen").mkdir(parents=True)
    inputs = []
    for index in range(2):
        stem = f"aachen_000000_{index:06d}"
        label_ids, instance_ids = _scene(index)
        Image.fromarray(label_ids).save(gt_dir / "aachen" / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(instance_ids.astype(np.uint16)).save(
            gt_dir / "aachen" / f"{stem}_gtFine_instanceIds.png"
        )
        inputs.append(
            {
                "file_name": str(
                    root / "leftImg8bit" / "val" / "aachen" / f"{stem}_leftImg8bit.png"
                ),
                "label_ids": label_ids,
                "instance_ids": instance_ids,
            }
        )
    names = []
    for suffix, evaluator_type in (
        ("sem_seg", "cityscapes_sem_seg"),
        ("instance", "cityscapes_instance"),
        ("panoptic", "cityscapes_panoptic_seg"),
    ):
        name = f"mini_cityscapes_{suffix}"
        DatasetCatalog.register(name, lambda: [])
        MetadataCatalog.get(name).set(
            gt_dir=str(gt_dir), evaluator_type=evaluator_type, thing_classes=THING_CLASSES
        )
        names.append(name)
    yield inputs
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _run(evaluator, inputs, make_output):
    evaluator.reset()
    for item in inputs:
        evaluator.process([{"file_name": item["file_name"]}], [make_output(item)])
    return evaluator.evaluate()


def _semantic_output(train_ids):
    labels = torch.from_numpy(train_ids.astype(np.int64))
    return {"sem_seg": torch.nn.functional.one_hot(labels, 19).permute(2, 0, 1).float()}


def _train_ids(label_ids):
    out = np.zeros_like(label_ids)
    for label_id in np.unique(label_ids):
        out[label_ids == label_id] = next(
            label.trainId for label in name2label.values() if label.id == label_id
        )
    return out


def test_cityscapes_semantic_perfect_and_all_road(cityscapes_val, tmp_path):
    evaluator = build_evaluator(
        make_tiny_cfg_with_outputs(True, False), "mini_cityscapes_sem_seg", str(tmp_path)
    )
    assert isinstance(evaluator, CityscapesSemSegEvaluator)
    perfect = _run(
        evaluator, cityscapes_val, lambda x: _semantic_output(_train_ids(x["label_ids"]))
    )
    assert perfect["sem_seg"]["IoU"] == pytest.approx(100.0)

    road = name2label["road"]
    all_road = _run(
        evaluator, cityscapes_val, lambda x: _semantic_output(np.full((H, W), road.trainId))
    )
    # IoU(road) = road pixels / all pixels; sky, car and person score 0; absent classes are left out
    labels = np.stack([x["label_ids"] for x in cityscapes_val])
    expected = 100 * np.mean(labels == road.id) / 4
    assert all_road["sem_seg"]["IoU"] == pytest.approx(expected, rel=1e-6)


def _instances_output(instance_ids, class_of=lambda name: THING_CLASSES.index(name)):
    masks, classes = [], []
    for instance_id in np.unique(instance_ids):
        if instance_id < 1000:
            continue
        name = next(label.name for label in name2label.values() if label.id == instance_id // 1000)
        masks.append(instance_ids == instance_id)
        classes.append(class_of(name))
    instances = Instances((H, W))
    instances.pred_masks = torch.from_numpy(np.stack(masks))
    instances.pred_classes = torch.tensor(classes)
    instances.scores = torch.ones(len(classes))
    return {"instances": instances}


def test_cityscapes_instance_perfect_and_wrong_class(cityscapes_val, tmp_path):
    evaluator = build_evaluator(
        make_tiny_cfg_with_outputs(False, True), "mini_cityscapes_instance", str(tmp_path)
    )
    assert isinstance(evaluator, CityscapesInstanceEvaluator)
    perfect = _run(evaluator, cityscapes_val, lambda x: _instances_output(x["instance_ids"]))
    assert perfect["segm"]["AP"] == pytest.approx(100.0)
    assert perfect["segm"]["AP50"] == pytest.approx(100.0)

    swapped = {"car": "person", "person": "car"}
    wrong = _run(
        evaluator,
        cityscapes_val,
        lambda x: _instances_output(
            x["instance_ids"], lambda name: THING_CLASSES.index(swapped[name])
        ),
    )
    assert wrong["segm"]["AP"] == pytest.approx(0.0)
    # cityscapesscripts' per-match dump goes to the output folder, not the current directory
    assert (tmp_path / "matches.json").is_file()


def test_cityscapes_panoptic_type_runs_the_cityscapes_evaluators(cityscapes_val, tmp_path):
    evaluators = build_evaluator(
        make_tiny_cfg_with_outputs(True, True), "mini_cityscapes_panoptic", str(tmp_path)
    )
    assert isinstance(evaluators, DatasetEvaluators)
    kinds = sorted(evaluators._evaluators, key=lambda e: type(e).__name__)
    assert len(kinds) == 2
    assert isinstance(kinds[0], CityscapesInstanceEvaluator)
    assert isinstance(kinds[1], CityscapesSemSegEvaluator)

    def perfect(x):
        return {
            **_semantic_output(_train_ids(x["label_ids"])),
            **_instances_output(x["instance_ids"]),
        }

    results = _run(evaluators, cityscapes_val, perfect)
    assert results["sem_seg"]["IoU"] == pytest.approx(100.0)
    assert results["segm"]["AP"] == pytest.approx(100.0)
