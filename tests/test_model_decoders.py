"""Pixel decoders, transformer decoders and per-pixel baseline heads on their own: output
shapes, deep supervision, dropout, and the head's choice of transformer input."""

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY, build_model

from helpers.configs import make_tiny_cfg
from mask2former.modeling.pixel_decoder import build_pixel_decoder
from mask2former.modeling.transformer_decoder import build_transformer_decoder

SHAPES = {
    "res2": ShapeSpec(channels=16, stride=4),
    "res3": ShapeSpec(channels=24, stride=8),
    "res4": ShapeSpec(channels=40, stride=16),
    "res5": ShapeSpec(channels=48, stride=32),
}


def _features(n=2, size=64):
    return {
        k: torch.randn(n, s.channels, size // s.stride, size // s.stride) for k, s in SHAPES.items()
    }


@pytest.mark.parametrize(
    "name", ["BasePixelDecoder", "TransformerEncoderPixelDecoder", "MSDeformAttnPixelDecoder"]
)
def test_pixel_decoder_outputs(name):
    cfg = make_tiny_cfg(pixel_decoder=name)
    decoder = build_pixel_decoder(cfg, SHAPES).eval()
    with torch.no_grad():
        mask_features, encoder_features, multi_scale = decoder.forward_features(_features())
    assert mask_features.shape == (2, 32, 16, 16)
    assert [tuple(f.shape) for f in multi_scale] == [(2, 32, 2, 2), (2, 32, 4, 4), (2, 32, 8, 8)]
    if name == "BasePixelDecoder":
        assert encoder_features is None
    else:
        assert encoder_features.shape == (2, 32, 2, 2)


def test_pixel_decoder_name_must_have_forward_features():
    cfg = make_tiny_cfg(pixel_decoder="SemSegFPNHead")  # a Detectron2 head, not a pixel decoder
    with pytest.raises(ValueError, match="forward_features"):
        build_pixel_decoder(cfg, SHAPES)


def test_msdeformattn_encoder_features_must_be_inputs():
    cfg = make_tiny_cfg()
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4"]
    with pytest.raises(ValueError, match="DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES"):
        build_pixel_decoder(cfg, SHAPES)


@pytest.mark.parametrize("deep_supervision", [True, False])
@pytest.mark.parametrize(
    "decoder", ["MultiScaleMaskedTransformerDecoder", "StandardTransformerDecoder"]
)
def test_transformer_decoder_outputs(decoder, deep_supervision):
    cfg = make_tiny_cfg(decoder=decoder)
    cfg.MODEL.MASK_FORMER.DEEP_SUPERVISION = deep_supervision
    predictor = build_transformer_decoder(cfg, 32)
    mask_features = torch.randn(2, 32, 16, 16)
    x = [torch.randn(2, 32, s, s) for s in (2, 4, 8)]
    x = x if decoder.startswith("MultiScale") else x[0]
    torch.manual_seed(0)
    with torch.no_grad():
        out = predictor.train()(x, mask_features)
    assert out["pred_logits"].shape == (2, 8, 6)
    assert out["pred_masks"].shape == (2, 8, 16, 16)
    aux = out.get("aux_outputs", [])
    # DEC_LAYERS predictions in all: the auxiliary ones are all but the last
    assert len(aux) == (cfg.MODEL.MASK_FORMER.DEC_LAYERS - 1 if deep_supervision else 0)
    for a in aux:
        assert a["pred_logits"].shape == (2, 8, 6) and a["pred_masks"].shape == (2, 8, 16, 16)

    # inference reads only the last prediction: no auxiliary masks are computed in eval mode,
    # and the last prediction does not depend on whether they are
    with torch.no_grad():
        evaluated = predictor.eval()(x, mask_features)
    assert evaluated.get("aux_outputs", []) == []
    if decoder.startswith("MultiScale"):  # no dropout: train and eval mode agree
        torch.testing.assert_close(evaluated["pred_masks"], out["pred_masks"])
        torch.testing.assert_close(evaluated["pred_logits"], out["pred_logits"])


def test_maskformer_decoder_uses_dropout_and_mask2former_does_not():
    mask_features = torch.randn(1, 32, 16, 16)
    x = [torch.randn(1, 32, s, s) for s in (2, 4, 8)]
    for decoder, arg, stochastic in [
        ("StandardTransformerDecoder", x[0], True),
        ("MultiScaleMaskedTransformerDecoder", x, False),
    ]:
        cfg = make_tiny_cfg(decoder=decoder)
        cfg.MODEL.MASK_FORMER.DROPOUT = 0.1 if stochastic else 0.0
        predictor = build_transformer_decoder(cfg, 32).train()
        a, b = predictor(arg, mask_features), predictor(arg, mask_features)
        assert torch.allclose(a["pred_masks"], b["pred_masks"]) != stochastic, decoder
        predictor.eval()
        a, b = predictor(arg, mask_features), predictor(arg, mask_features)
        assert torch.allclose(a["pred_masks"], b["pred_masks"])


def test_standard_decoder_with_encoder_and_pre_norm():
    cfg = make_tiny_cfg(decoder="StandardTransformerDecoder")
    cfg.MODEL.MASK_FORMER.ENC_LAYERS = 1
    cfg.MODEL.MASK_FORMER.PRE_NORM = True
    predictor = build_transformer_decoder(cfg, 48).eval()
    keys = predictor.state_dict().keys()
    assert "transformer.encoder.layers.0.self_attn.in_proj_weight" in keys
    assert "transformer.encoder.norm.weight" in keys  # pre-norm encoders end with a LayerNorm
    assert "input_proj.weight" in keys  # 48 input channels != 32 hidden
    out = predictor(torch.randn(2, 48, 2, 2), torch.randn(2, 32, 16, 16))
    assert out["pred_masks"].shape == (2, 8, 16, 16)


@pytest.mark.parametrize(
    "in_feature,pixel_decoder,channels",
    [
        ("res5", "BasePixelDecoder", 512),
        ("transformer_encoder", "TransformerEncoderPixelDecoder", 32),
        ("pixel_embedding", "BasePixelDecoder", 32),
    ],
)
def test_maskformer_head_transformer_input(in_feature, pixel_decoder, channels):
    cfg = make_tiny_cfg("StandardTransformerDecoder", pixel_decoder)
    cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = in_feature
    cfg.MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ = True
    model = build_model(cfg).eval()
    assert model.sem_seg_head.predictor.input_proj.weight.shape[1] == channels
    with torch.no_grad():
        out = model([{"image": torch.zeros(3, 64, 64)}])
    assert out[0]["sem_seg"].shape == (5, 64, 64)


def test_transformer_encoder_feature_needs_an_encoder():
    cfg = make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")
    cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "transformer_encoder"
    model = build_model(cfg).eval()
    with pytest.raises(ValueError, match="TransformerEncoderPixelDecoder"):
        with torch.no_grad():
            model([{"image": torch.zeros(3, 64, 64)}])


def _semantic_segmentor_cfg(head: str) -> CfgNode:
    cfg = make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.SEM_SEG_HEAD.NAME = head
    cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = 255
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 5  # one query per class
    return cfg


@pytest.mark.parametrize("head", ["PerPixelBaselineHead", "PerPixelBaselinePlusHead"])
def test_per_pixel_baselines(head):
    model = build_model(_semantic_segmentor_cfg(head))
    assert isinstance(model.sem_seg_head, SEM_SEG_HEADS_REGISTRY.get(head))
    sem_seg = torch.randint(0, 5, (64, 64))
    sem_seg[:8] = 255  # ignored
    batch = [{"image": torch.rand(3, 64, 64) * 255, "sem_seg": sem_seg}] * 2
    model.train()
    losses = model(batch)
    # PerPixelBaseline+ supervises every decoder layer (DEC_LAYERS = 2 in the tiny config)
    expected = {"loss_sem_seg"} | ({"loss_sem_seg_0"} if head.endswith("PlusHead") else set())
    assert set(losses) == expected
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        out = model([{"image": torch.rand(3, 64, 64) * 255, "height": 32, "width": 40}])
    assert out[0]["sem_seg"].shape == (5, 32, 40)
