"""Checkpoint compatibility: the R50 models of both published releases have exactly the
published state_dict names and shapes, and checkpoints in the model-zoo .pkl format, also
from before the pixel decoder became a submodule, load with no missing or unexpected keys."""

import pickle

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from helpers.checkpoints import compare_state_dict, load_reference
from helpers.configs import make_tiny_cfg
from mask2former import add_maskformer2_config
from mask2former.checkpoint import MaskFormerCheckpointer


def _r50_cfg(num_classes: int):
    """Settings shared by the published R50 configs (values from their YAML files)."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.MODEL.DEVICE = "meta"  # shapes only: no memory, no init cost
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.RESNETS.DEPTH = 50
    cfg.MODEL.RESNETS.STEM_TYPE = "basic"
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = False
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    head = cfg.MODEL.SEM_SEG_HEAD
    head.NAME = "MaskFormerHead"
    head.NUM_CLASSES = num_classes
    head.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    head.IGNORE_VALUE = 255
    head.CONVS_DIM = 256
    head.MASK_DIM = 256
    head.NORM = "GN"
    return cfg


def mask2former_r50_ade20k_semantic():
    cfg = _r50_cfg(150)
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "MSDeformAttnPixelDecoder"
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 6
    mf = cfg.MODEL.MASK_FORMER
    mf.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
    mf.TRANSFORMER_IN_FEATURE = "multi_scale_pixel_decoder"
    mf.DROPOUT = 0.0
    mf.DEC_LAYERS = 10
    return cfg, "mask2former/ade20k__semantic-segmentation__maskformer2_R50_bs16_160k.txt.gz"


def _maskformer_r50(num_classes: int):
    cfg = _r50_cfg(num_classes)
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "BasePixelDecoder"
    mf = cfg.MODEL.MASK_FORMER
    mf.TRANSFORMER_DECODER_NAME = "StandardTransformerDecoder"
    mf.TRANSFORMER_IN_FEATURE = "res5"
    mf.DROPOUT = 0.1
    mf.DEC_LAYERS = 6
    mf.TRAIN_NUM_POINTS = 0
    return cfg


def maskformer_r50_ade20k():
    return _maskformer_r50(150), "maskformer/ade20k-150__maskformer_R50_bs16_160k.txt.gz"


def maskformer_panoptic_r50_coco():
    cfg = _maskformer_r50(133)
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "TransformerEncoderPixelDecoder"
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 6
    cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "transformer_encoder"
    return cfg, "maskformer/coco-panoptic__maskformer_panoptic_R50_bs64_554k.txt.gz"


def per_pixel_baseline_r50_ade20k():
    cfg = _maskformer_r50(150)
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "PerPixelBaselineHead"
    return cfg, "maskformer/ade20k-150__per_pixel_baseline_R50_bs16_160k.txt.gz"


def per_pixel_baseline_plus_r50_ade20k():
    cfg = _maskformer_r50(150)
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "PerPixelBaselinePlusHead"
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 150
    return cfg, "maskformer/ade20k-150__per_pixel_baseline_plus_R50_bs16_160k.txt.gz"


@pytest.mark.parametrize(
    "make",
    [
        mask2former_r50_ade20k_semantic,
        maskformer_r50_ade20k,
        maskformer_panoptic_r50_coco,
        per_pixel_baseline_r50_ade20k,
        per_pixel_baseline_plus_r50_ade20k,
    ],
    ids=lambda f: f.__name__,
)
def test_r50_state_dict_matches_published(make):
    cfg, reference = make()
    _, count, shapes = load_reference(reference)
    model = build_model(cfg)
    assert compare_state_dict(model.state_dict(), shapes) == []
    assert sum(p.numel() for p in model.parameters()) == count


def _to_old_layout(state_dict):
    """The key layout of checkpoints saved before the published version 2 of the heads."""
    old = {}
    for k, v in state_dict.items():
        k = k.replace("sem_seg_head.pixel_decoder.", "sem_seg_head.")
        k = k.replace("sem_seg_head.predictor.query_feat.", "sem_seg_head.predictor.static_query.")
        old[k] = v
    return old


@pytest.mark.parametrize("layout", ["current", "old"])
def test_model_zoo_pkl_loads_without_missing_or_unexpected_keys(tmp_path, layout):
    source = build_model(make_tiny_cfg())
    weights = {k: v.numpy() for k, v in source.state_dict().items()}
    if layout == "old":
        weights = _to_old_layout(weights)
        assert not any("pixel_decoder" in k for k in weights)
    path = tmp_path / "model_final.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "model zoo"}, f)

    torch.manual_seed(1)
    target = build_model(make_tiny_cfg())
    checkpointer = MaskFormerCheckpointer(target)
    incompatible = checkpointer._load_model(checkpointer._load_file(str(path)))
    assert incompatible.missing_keys == []
    assert incompatible.unexpected_keys == []
    assert incompatible.incorrect_shapes == []
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
