"""D2SwinTransformer: published state_dict names, odd input sizes, window attention against a
direct full-map computation, stochastic depth, patch merging order."""

import re

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_backbone

from helpers.backbones import swin_cfg, tiny_swin
from helpers.checkpoints import compare_state_dict, load_reference, reference_files
from mask2former.modeling.backbone.swin import (
    D2SwinTransformer,
    PatchMerging,
    SwinBlock,
)
from mask2former.modeling.backbone.window_attention import WindowLayout
from mask2former.utils.reference_model import reference_model

# MODEL.SWIN values of the published configs: (EMBED_DIM, DEPTHS, NUM_HEADS, WINDOW_SIZE,
# PRETRAIN_IMG_SIZE)
PUBLISHED_SWIN = {
    "tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 224),
    "small": (96, [2, 2, 18, 2], [3, 6, 12, 24], 7, 224),
    "base": (128, [2, 2, 18, 2], [4, 8, 16, 32], 12, 384),
    "large": (192, [2, 2, 18, 2], [6, 12, 24, 48], 12, 384),
}


def _swin_references():
    files = reference_files("mask2former") + reference_files("maskformer")
    return [f for f in files if "swin" in f.name]


def test_all_swin_references_are_covered():
    refs = _swin_references()
    assert len(refs) >= 30
    for f in refs:
        assert re.search(r"swin_(tiny|small|base|large)", f.name), f.name


@pytest.mark.parametrize("variant", sorted(PUBLISHED_SWIN))
def test_state_dict_matches_published_checkpoints(variant):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        backbone = build_backbone(swin_cfg(*PUBLISHED_SWIN[variant]))
    ours = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    files = [f for f in _swin_references() if f"swin_{variant}" in f.name]
    assert files
    for f in files:
        _, _, shapes = load_reference(f)
        reference = {k: v for k, v in shapes.items() if k.startswith("backbone.")}
        assert compare_state_dict(ours, reference) == [], f.name


def test_output_shape_and_size_divisibility():
    backbone = tiny_swin()
    shapes = backbone.output_shape()
    assert {k: (s.channels, s.stride) for k, s in shapes.items()} == {
        "res2": (8, 4),
        "res3": (16, 8),
        "res4": (32, 16),
        "res5": (64, 32),
    }
    assert backbone.size_divisibility == 32


@pytest.mark.parametrize("size", [(64, 64), (37, 53), (5, 7), (1, 1), (100, 29)])
def test_forward_on_odd_sizes(size):
    backbone = tiny_swin()
    H, W = size
    images = torch.randn(2, 3, H, W)
    with torch.no_grad():
        out = backbone(images)
        single = backbone(images[1:])
    for name, stride in [("res2", 4), ("res3", 8), ("res4", 16), ("res5", 32)]:
        expected = (2, backbone.output_shape()[name].channels, -(-H // stride), -(-W // stride))
        assert tuple(out[name].shape) == expected, name
        assert torch.isfinite(out[name]).all()
        # windows never mix images of a batch
        torch.testing.assert_close(out[name][1:], single[name], rtol=1e-4, atol=1e-5)


def test_out_features_subset_and_ape():
    backbone = tiny_swin(OUT_FEATURES=["res3", "res5"], APE=True, PRETRAIN_IMG_SIZE=32)
    assert tuple(backbone.absolute_pos_embed.shape) == (1, 8, 8, 8)
    # every stage keeps its norm, as in the published checkpoints
    assert {f"norm{i}.weight" for i in range(4)} <= set(backbone.state_dict())
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 45, 30))
    assert sorted(out) == ["res3", "res5"]
    assert tuple(out["res3"].shape) == (1, 16, 6, 4)


def test_bad_out_features_is_a_clear_error():
    with pytest.raises(ValueError, match="OUT_FEATURES"):
        tiny_swin(OUT_FEATURES=["res6"])


def direct_block(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """The same block computed without windows, rolls or the -100 mask: one attention over all
    tokens of the zero-padded map, where a pair may attend iff both lie in the same window of the
    grid whose lines are at multiples of ws (regular) or at shift + multiples of ws (shifted)."""
    attn = block.attn
    ws, shift = attn.window_size, block.shift_size
    B, H, W, C = x.shape
    y = block.norm1(x)
    y = F.pad(y, (0, 0, 0, -W % ws, 0, -H % ws))
    Hp, Wp = y.shape[1:3]
    heads = attn.num_heads
    q, k, v = attn.qkv(y.reshape(B, Hp * Wp, C)).chunk(3, dim=-1)
    q, k, v = (t.view(B, Hp * Wp, heads, C // heads).transpose(1, 2) for t in (q, k, v))
    logits = q @ k.transpose(-1, -2) * attn.scale

    hs, wcs = torch.meshgrid(torch.arange(Hp), torch.arange(Wp), indexing="ij")
    hs, wcs = hs.flatten(), wcs.flatten()

    def cell(coord):
        if shift == 0:
            return coord // ws
        return torch.where(coord < shift, 0, 1 + (coord - shift) // ws)

    same_window = (cell(hs)[:, None] == cell(hs)[None, :]) & (
        cell(wcs)[:, None] == cell(wcs)[None, :]
    )
    dy = (hs[:, None] - hs[None, :]).clamp(-ws + 1, ws - 1) + ws - 1
    dx = (wcs[:, None] - wcs[None, :]).clamp(-ws + 1, ws - 1) + ws - 1
    bias = attn.relative_position_bias_table[dy * (2 * ws - 1) + dx].permute(2, 0, 1)
    logits = (logits + bias).masked_fill(~same_window, float("-inf"))
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(B, Hp, Wp, C)
    out = attn.proj(out)[:, :H, :W]
    x = x + out
    return x + block.mlp(block.norm2(x))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-5)])
@pytest.mark.parametrize(
    "size,window,shift",
    [((8, 8), 4, 0), ((8, 8), 4, 2), ((10, 7), 4, 2), ((3, 3), 4, 2), ((9, 12), 3, 1)],
)
@pytest.mark.parametrize("reference", [False, True], ids=["sdpa", "reference_model"])
def test_window_attention_matches_direct_computation(
    size, window, shift, dtype, tol, reference, monkeypatch
):
    block = SwinBlock(dim=8, num_heads=2, window_size=window, shift_size=shift).to(dtype)
    with torch.no_grad():  # non-trivial biases and norms
        for p in block.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(2, *size, 8, dtype=dtype)

    if reference:  # the published formulation, step by step: no fused attention
        monkeypatch.delattr(F, "scaled_dot_product_attention")
    run = reference_model(block) if reference else block
    ours = run(x, WindowLayout.build(*size, window, shift))
    monkeypatch.undo()
    expected = direct_block(block, x)
    # the published -100 mask leaves exp(-100)-sized weights where the direct one has zeros
    torch.testing.assert_close(ours, expected, rtol=tol, atol=tol)

    weights = torch.randn_like(ours)
    params = [block.attn.relative_position_bias_table, block.attn.qkv.weight, block.norm1.weight]
    grads = torch.autograd.grad((ours * weights).sum(), params)
    expected_grads = torch.autograd.grad((expected * weights).sum(), params)
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=tol, atol=tol)


def test_drop_path_only_in_training():
    block = SwinBlock(dim=8, num_heads=2, window_size=3, drop_path=1.0)
    x = torch.randn(2, 6, 6, 8)
    layout = WindowLayout.build(6, 6, 3)
    block.train()
    # both residual branches dropped for every sample
    torch.testing.assert_close(block(x, layout), x)
    block.eval()
    assert not torch.allclose(block(x, layout), x)

    with_drop = tiny_swin(DROP_PATH_RATE=0.5)
    without = tiny_swin(DROP_PATH_RATE=0.0)
    without.load_state_dict(with_drop.state_dict())
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        eval_out = with_drop(images)["res5"]
        torch.testing.assert_close(eval_out, without(images)["res5"])
        with_drop.train()
        train_out = with_drop(images)["res5"]
    assert not torch.allclose(train_out, eval_out)
    rates = [b.drop_path.p for stage in with_drop.layers for b in stage.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.5) and rates == sorted(rates)


def test_patch_merging_order_and_odd_padding():
    merge = PatchMerging(dim=1)
    seen = {}
    merge.norm.register_forward_hook(lambda m, inputs, out: seen.setdefault("x", inputs[0]))
    x = torch.arange(15.0).view(1, 3, 5, 1)  # odd sides: zero-padded to 4 x 6
    out = merge(x)
    assert tuple(out.shape) == (1, 2, 3, 2)
    # neighbourhood at output (0, 0): rows/cols offsets (0,0), (1,0), (0,1), (1,1)
    assert seen["x"][0, 0, 0].tolist() == [0.0, 5.0, 1.0, 6.0]
    # bottom-right output reads padding
    assert seen["x"][0, 1, 2].tolist() == [14.0, 0.0, 0.0, 0.0]


def test_use_checkpoint_gives_same_gradients():
    plain = tiny_swin().train()
    ckpt = tiny_swin(USE_CHECKPOINT=True).train()
    ckpt.load_state_dict(plain.state_dict())
    images = torch.randn(1, 3, 20, 20)
    grads = []
    for model in (plain, ckpt):
        sum(v.sum() for v in model(images).values()).backward()
        grads.append(model.patch_embed.proj.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_registered_in_backbone_registry():
    from detectron2.modeling import BACKBONE_REGISTRY

    assert BACKBONE_REGISTRY.get("D2SwinTransformer") is D2SwinTransformer
