"""mask2former.engine.predictor: weights are loaded through the project's checkpointer, or refused."""

import logging

import detectron2.engine.defaults
import numpy as np
import pytest
import torch

from helpers.configs import tiny_semantic_cfg
from mask2former.data.augmentations import ResizeShortestEdge
from mask2former.engine.predictor import (
    MaskFormerPredictor,
    MissingWeightsError,
    UntrainedModelError,
)


def test_trained_weights_are_loaded(tmp_path, caplog):
    trained = MaskFormerPredictor(tiny_semantic_cfg(), random_weights=True)
    with torch.no_grad():  # make the weights differ from any fresh initialization
        for p in trained.model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "model_final.pth"
    torch.save({"model": trained.model.state_dict()}, path)

    with caplog.at_level(logging.INFO):
        loaded = MaskFormerPredictor(tiny_semantic_cfg(str(path)))
    # DefaultPredictor's load of no weights does not announce a model "from scratch"
    assert f"Loading from {path}" in caplog.text and "from scratch" not in caplog.text
    for name, value in trained.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    expected, got = trained(image)["sem_seg"], loaded(image)["sem_seg"]
    assert got.shape == (7, 40, 56)
    torch.testing.assert_close(got, expected)
    assert loaded.metadata.stuff_classes[0] == "circle"


def test_backbone_only_weights_are_refused(tmp_path):
    model = MaskFormerPredictor(tiny_semantic_cfg(), random_weights=True).model
    backbone = {k: v for k, v in model.state_dict().items() if k.startswith("backbone.")}
    head = [k for k in model.state_dict() if k.startswith("sem_seg_head.")]
    path = tmp_path / "backbone.pth"
    torch.save({"model": backbone}, path)
    with pytest.raises(UntrainedModelError) as info:
        MaskFormerPredictor(tiny_semantic_cfg(str(path)))
    message = str(info.value)
    assert message.startswith(f"{path} does not hold trained weights for this model: ")
    assert f"sem_seg_head: {len(head)} of {len(head)} tensors not in the checkpoint." in message
    assert "backbone:" not in message and "\n" not in message


@pytest.mark.parametrize("weights", ["", "no/such/model_final.pth"])
def test_unusable_weights_are_refused(weights, monkeypatch):
    """Before the model is built (DefaultPredictor builds it with Detectron2's build_model)."""

    def build_model(cfg):
        raise AssertionError("the model was built before the weights were checked")

    monkeypatch.setattr(detectron2.engine.defaults, "build_model", build_model)
    with pytest.raises(MissingWeightsError, match="MODEL.WEIGHTS"):
        MaskFormerPredictor(tiny_semantic_cfg(weights))


def test_predictor_is_detectron2s_with_its_own_resize_and_layout():
    cfg = tiny_semantic_cfg()
    cfg.INPUT.FORMAT = "RGB"
    predictor = MaskFormerPredictor(cfg, random_weights=True)
    assert not predictor.model.training and predictor.input_format == "RGB"
    assert isinstance(predictor.aug, ResizeShortestEdge)
    assert predictor.cfg.MODEL.WEIGHTS == cfg.MODEL.WEIGHTS and predictor.cfg is not cfg
    # CPU: convolutions run in channels-last
    conv = predictor.model.backbone.stem.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    cfg.INPUT.FORMAT = "YUV"
    with pytest.raises(ValueError, match="INPUT.FORMAT must be RGB or BGR, got 'YUV'"):
        MaskFormerPredictor(cfg, random_weights=True)


@pytest.mark.parametrize("shape", [(1, 1000, 3), (1000, 1, 3)])
def test_one_pixel_wide_image(shape):
    """The test-time resize keeps at least one pixel per side (detectron2's rounds a 1 x 1000
    image to 0 x 64 and fails); the scores come back at the input's size."""
    predictor = MaskFormerPredictor(tiny_semantic_cfg(), random_weights=True)
    assert predictor(np.zeros(shape, np.uint8))["sem_seg"].shape == (7, *shape[:2])
