"""Shared fixtures: tiny configs that build and run in well under a second on 2 CPU cores."""
import random

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg

from mask2former import add_maskformer2_config

torch.set_num_threads(2)


def make_tiny_cfg(
    decoder: str = "MultiScaleMaskedTransformerDecoder",
    pixel_decoder: str = "MSDeformAttnPixelDecoder",
    num_classes: int = 5,
):
    """A config of the chosen architecture with a thin ResNet-18, a 32-channel head, 8 queries
    and 3 decoder layers, on 64x64 inputs. Mask2Former when ``decoder`` is
    MultiScaleMaskedTransformerDecoder, MaskFormer when StandardTransformerDecoder."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 16
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.NAME = "MaskFormerHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = num_classes
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = 32
    cfg.MODEL.SEM_SEG_HEAD.MASK_DIM = 32
    cfg.MODEL.SEM_SEG_HEAD.NORM = "GN"
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = pixel_decoder
    cfg.MODEL.SEM_SEG_HEAD.COMMON_STRIDE = 4
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 1
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 4
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = decoder
    cfg.MODEL.MASK_FORMER.HIDDEN_DIM = 32
    cfg.MODEL.MASK_FORMER.NHEADS = 4
    cfg.MODEL.MASK_FORMER.DIM_FEEDFORWARD = 64
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 8
    cfg.MODEL.MASK_FORMER.DEC_LAYERS = 4
    cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 16 * 16
    if decoder == "StandardTransformerDecoder":
        # MaskFormer: one feature level, dropout, full-resolution focal + dice
        cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "res5"
        cfg.MODEL.MASK_FORMER.DEC_LAYERS = 2
        cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 0
    else:
        cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "multi_scale_pixel_decoder"
        cfg.MODEL.MASK_FORMER.DROPOUT = 0.0
        cfg.MODEL.MASK_FORMER.CLASS_WEIGHT = 2.0
        cfg.MODEL.MASK_FORMER.MASK_WEIGHT = 5.0
        cfg.MODEL.MASK_FORMER.DICE_WEIGHT = 5.0
    cfg.INPUT.MIN_SIZE_TEST = 64
    cfg.INPUT.MAX_SIZE_TEST = 64
    cfg.INPUT.MIN_SIZE_TRAIN = (64,)
    cfg.INPUT.MAX_SIZE_TRAIN = 64
    cfg.INPUT.CROP.ENABLED = False
    cfg.INPUT.SIZE_DIVISIBILITY = 64
    return cfg


def dataset_num_classes(name: str) -> int:
    """The model's number of classes for the registered dataset ``name``: all its classes, or
    its thing classes for an instance-only dataset."""
    from detectron2.data import MetadataCatalog

    metadata = MetadataCatalog.get(name)
    return len(metadata.get("stuff_classes", None) or metadata.thing_classes)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_cfg():
    """Mask2Former, tiny."""
    return make_tiny_cfg()


@pytest.fixture
def tiny_maskformer_cfg():
    """MaskFormer (StandardTransformerDecoder on res5, BasePixelDecoder), tiny."""
    return make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    """An empty $DETECTRON2_DATASETS for tests that build their own miniature trees."""
    root = tmp_path / "datasets"
    root.mkdir()
    monkeypatch.setenv("DETECTRON2_DATASETS", str(root))
    return root


@pytest.fixture(scope="session")
def _shapes_dataset(tmp_path_factory):
    from mask2former.data.shapes import generate

    root = tmp_path_factory.mktemp("shapes_datasets")
    generate(str(root), num_train=8, num_val=4)
    return root


@pytest.fixture
def shapes_root(_shapes_dataset):
    """A datasets root holding a small generated "shapes" dataset (8 train / 4 val images,
    generated once per session) in ``<root>/shapes``; the ``shapes_*`` datasets are
    (re-)registered to it for each test, since other tests may re-root the registrations."""
    from mask2former.data.datasets import register_all_shapes

    register_all_shapes(str(_shapes_dataset))
    return _shapes_dataset
