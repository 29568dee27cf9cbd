"""Training stops with the cause named: a class id outside the model's classes names the
annotation file that holds it; a diverging run names the iteration and the loss terms."""

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from PIL import Image

from helpers.configs import make_tiny_cfg
from helpers.training import synthetic_batch
from mask2former.data import build_dataset_mapper
from mask2former.data.dataset_mappers import LabelValueError
from mask2former.engine import LossDivergedError, MaskFormerSimpleTrainer


def _semantic_record(tmp_path, labels: np.ndarray) -> dict:
    image = tmp_path / "image.jpg"
    Image.fromarray(np.full((*labels.shape, 3), 120, np.uint8)).save(image)
    label_file = tmp_path / "labels.png"
    Image.fromarray(labels.astype(np.uint8)).save(label_file)
    return {
        "file_name": str(image),
        "sem_seg_file_name": str(label_file),
        "height": labels.shape[0],
        "width": labels.shape[1],
    }


def test_semantic_label_outside_the_classes_names_the_file(tmp_path):
    cfg = make_tiny_cfg(num_classes=5)
    cfg.INPUT.DATASET_MAPPER_NAME = "mask_former_semantic"
    mapper = build_dataset_mapper(cfg, is_train=True)
    labels = np.zeros((64, 64), np.uint8)
    labels[:20] = 255  # the ignore label
    labels[30:, :30] = 4
    mapper(_semantic_record(tmp_path, labels))  # valid

    labels[40:, 40:] = 9
    labels[:5, 60:] = 5
    record = _semantic_record(tmp_path, labels)
    with pytest.raises(LabelValueError) as info:
        mapper(record)
    message = str(info.value)
    assert message.startswith(
        f"{record['sem_seg_file_name']}: class ids [5, 9] are outside the 5 classes"
    )
    assert "MODEL.SEM_SEG_HEAD.NUM_CLASSES" in message and "\n" not in message


def test_panoptic_segment_outside_the_classes_names_the_file(shapes_root):
    cfg = make_tiny_cfg(num_classes=5)  # the shapes dataset has 7 classes
    cfg.DATASETS.TRAIN = ("shapes_panoptic_train",)
    cfg.INPUT.DATASET_MAPPER_NAME = "mask_former_panoptic"
    mapper = build_dataset_mapper(cfg, is_train=True)
    failures = []
    for record in DatasetCatalog.get("shapes_panoptic_train"):
        ids = {s["category_id"] for s in record["segments_info"] if not s.get("iscrowd")}
        if max(ids) < 5:
            continue
        with pytest.raises(LabelValueError) as info:
            mapper(record)
        failures.append(str(info.value))
        assert failures[-1].startswith(f"{record['pan_seg_file_name']}: class ids ")
    assert failures


def test_diverging_run_names_the_iteration_and_the_loss_terms():
    torch.manual_seed(0)
    model = build_model(make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder"))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e6)  # SOLVER.BASE_LR 1e6
    trainer = MaskFormerSimpleTrainer(model, [synthetic_batch()] * 20, optimizer)
    with pytest.raises(LossDivergedError) as info:
        trainer.train(0, 20)
    message = str(info.value)
    assert isinstance(info.value, FloatingPointError)
    assert message.startswith(f"The loss diverged at iteration {trainer.iter}: ")
    assert "loss_ce=nan" in message and "Stopping training" in message
