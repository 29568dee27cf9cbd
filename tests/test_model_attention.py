"""Attention building blocks: equivalence with torch.nn.MultiheadAttention, the sine position
encoding against its formula, and the masked cross-attention of Mask2Former."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mask2former.layers.attention import MultiheadAttention
from mask2former.layers.masked_attention_layers import CrossAttentionLayer
from mask2former.layers.position_encoding import PositionEmbeddingSine
from mask2former.modeling.transformer_decoder.mask2former_transformer_decoder import (
    MultiScaleMaskedTransformerDecoder,
    masked_attention_mask,
)
from mask2former.utils.reference_model import reference_model


def _torch_mha_copy(ours: MultiheadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(ours.embed_dim, ours.num_heads, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    return ref.eval()


def test_attention_state_dict_names_match_torch():
    ours = MultiheadAttention(16, 4)
    ref = nn.MultiheadAttention(16, 4)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }


@pytest.mark.parametrize("use_masks", [False, True])
def test_attention_matches_torch_multihead_attention(use_masks):
    ours = MultiheadAttention(16, 4).eval()
    nn.init.normal_(ours.in_proj_bias)
    ref = _torch_mha_copy(ours)
    q, k = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    v = torch.randn(2, 7, 16)
    attend = padding = None
    if use_masks:
        attend = torch.rand(2, 1, 5, 7) > 0.4
        attend[..., 0] = True  # every query keeps a key
        padding = torch.zeros(2, 7, dtype=torch.bool)
        padding[1, 5:] = True
        attend[1, :, :, 0] = True
    out = ours(q, k, v, attn_mask=attend, key_padding_mask=padding)
    # torch: True in a boolean mask means "masked out"; one mask per (batch * head)
    ref_mask = None if attend is None else (~attend).expand(2, 4, 5, 7).reshape(8, 5, 7)
    expected = ref(q, k, v, attn_mask=ref_mask, key_padding_mask=padding, need_weights=False)[0]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_position_embedding_matches_formula():
    pe = PositionEmbeddingSine(num_pos_feats=4, normalize=True)
    h, w = 3, 5
    out = pe(torch.zeros(1, 1, h, w))
    assert out.shape == (1, 8, h, w)
    scale, eps = 2 * math.pi, 1e-6
    for y in range(h):
        for x in range(w):
            ys = (y + 1) / (h + eps) * scale
            xs = (x + 1) / (w + eps) * scale
            expected = []
            for coord in (ys, xs):  # y channels first
                for i in range(4):
                    t = coord / 10000 ** (2 * (i // 2) / 4)
                    expected.append(math.sin(t) if i % 2 == 0 else math.cos(t))
            torch.testing.assert_close(out[0, :, y, x], torch.tensor(expected), atol=1e-5, rtol=0)


def test_masked_attention_mask_thresholds_and_unmasks_empty_queries():
    logits = torch.full((1, 3, 4, 4), -5.0)
    logits[0, 0, :2, :2] = 5.0  # query 0: top-left quarter
    logits[0, 1] = 5.0  # query 1: everywhere
    # query 2: empty mask
    mask = masked_attention_mask(logits, (4, 4))
    assert mask.shape == (1, 1, 3, 16) and mask.dtype == torch.bool
    expected0 = torch.zeros(4, 4, dtype=torch.bool)
    expected0[:2, :2] = True
    assert torch.equal(mask[0, 0, 0], expected0.flatten())
    assert mask[0, 0, 1].all()
    assert mask[0, 0, 2].all(), "a query with an empty mask must attend everywhere"
    # resized to a coarser level: bilinear, then probability >= 0.5
    coarse = masked_attention_mask(logits, (2, 2))
    assert torch.equal(coarse[0, 0, 0], torch.tensor([True, False, False, False]))


def test_cross_attention_only_sees_tokens_inside_the_mask():
    torch.manual_seed(0)
    layer = CrossAttentionLayer(16, 4).eval()
    queries = torch.randn(1, 3, 16)
    memory = torch.randn(1, 10, 16)
    attend = torch.zeros(1, 1, 3, 10, dtype=torch.bool)
    attend[0, 0, 0, :4] = True  # query 0 may look at tokens 0-3
    attend[0, 0, 1, 6:] = True  # query 1 at tokens 6-9
    attend[0, 0, 2, :] = True  # query 2 everywhere (its predicted mask was empty)
    out = layer(queries, memory, attn_mask=attend)

    changed = memory.clone()
    changed[0, 4:] = torch.randn(6, 16)  # only tokens outside query 0's mask
    out_changed = layer(queries, changed, attn_mask=attend)
    torch.testing.assert_close(out_changed[0, 0], out[0, 0])
    assert not torch.allclose(out_changed[0, 1], out[0, 1])
    assert not torch.allclose(out_changed[0, 2], out[0, 2])


def test_decoder_feeds_previous_prediction_as_attention_mask(tiny_cfg):
    """Every cross-attention layer gets the mask of the prediction before it, at its own
    level (round-robin 1/32, 1/16, 1/8), with empty masks opened up."""
    tiny_cfg.MODEL.MASK_FORMER.DEC_LAYERS = 5  # 4 layers: levels 0, 1, 2, 0
    # train mode returns the auxiliary predictions; the decoder has no dropout
    decoder = MultiScaleMaskedTransformerDecoder(tiny_cfg, 32, True).train()
    published = reference_model(decoder)  # resizes each prediction's logits, as published
    seen = {decoder: [], published: []}
    for model, masks in seen.items():
        for layer in model.transformer_cross_attention_layers:
            layer.register_forward_hook(
                lambda m, args, kwargs, out, masks=masks: masks.append(
                    (args[1].shape[1], kwargs["attn_mask"])
                ),
                with_kwargs=True,
            )
    feats = [torch.randn(2, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(2, 32, 16, 16)
    for model, masks in seen.items():
        with torch.no_grad():
            out = model(feats, mask_features)
        assert [tokens for tokens, _ in masks] == [4, 16, 64, 4]
        predictions = [a["pred_masks"] for a in out["aux_outputs"]] + [out["pred_masks"]]
        assert len(predictions) == 5
        for i, (tokens, attn_mask) in enumerate(masks):
            size = int(math.sqrt(tokens))
            expected = masked_attention_mask(predictions[i], (size, size))
            assert attn_mask.any(dim=-1).all()
            if model is published:
                assert torch.equal(attn_mask, expected)
                continue
            # the decoder resizes features instead of logits (equal up to rounding), so only
            # pixels whose resized logit is ~0 may fall on the other side of the threshold
            resized = F.interpolate(
                predictions[i], size=(size, size), mode="bilinear", align_corners=False
            )
            differs = attn_mask != expected
            assert (resized.flatten(2).unsqueeze(1).expand_as(differs)[differs].abs() < 1e-4).all()
