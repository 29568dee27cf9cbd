"""The fast paths compute the same function as the reference paths (``use_reference_ops``):
compiled deformable attention, fused attention, attention masks from pre-resized mask
features, and the inference shortcuts. Compared in float32 to a tight tolerance."""
import copy

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Instances

from mask2former.layers import reference_ops_enabled, use_reference_ops
from mask2former.modeling.transformer_decoder import build_transformer_decoder
from mask2former.layers.attention import (
    MultiheadAttention,
    explicit_attention,
)
from mask2former.layers.position_encoding import PositionEmbeddingSine

TOL = dict(rtol=1e-5, atol=1e-5)


def test_switch_nests_and_restores():
    initial = reference_ops_enabled()
    with use_reference_ops():
        assert reference_ops_enabled()
        with use_reference_ops(False):
            assert not reference_ops_enabled()
        assert reference_ops_enabled()
    assert reference_ops_enabled() == initial


def test_explicit_attention_matches_sdpa_with_boolean_mask():
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)
    mask = torch.rand(2, 1, 5, 7) > 0.5
    mask[..., 0] = True  # every query may attend somewhere
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(explicit_attention(q, k, v, mask), expected, **TOL)
    attn = MultiheadAttention(16, 4).eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    with use_reference_ops():
        ref = attn(x, memory, memory, attn_mask=mask)
    torch.testing.assert_close(attn(x, memory, memory, attn_mask=mask), ref, **TOL)


def test_decoder_fast_path_matches_reference(tiny_cfg):
    tiny_cfg.MODEL.MASK_FORMER.DEC_LAYERS = 6
    # train mode, so that the auxiliary predictions are returned too (the decoder has no dropout)
    decoder = build_transformer_decoder(tiny_cfg, 32).train()
    feats = [torch.randn(2, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(2, 32, 16, 16)
    seen = {True: [], False: []}
    for layer in decoder.transformer_cross_attention_layers:
        layer.register_forward_hook(
            lambda m, args, kwargs, out: seen[reference_ops_enabled()].append(kwargs["attn_mask"]),
            with_kwargs=True,
        )
    with torch.no_grad():
        fast = decoder(feats, mask_features)
        with use_reference_ops():
            ref = decoder(feats, mask_features)
    for a, b in zip(seen[False], seen[True]):
        assert torch.equal(a, b)
    assert len(seen[False]) == 5 and not all(m.all() for m in seen[False])  # masks do restrict
    torch.testing.assert_close(fast["pred_masks"], ref["pred_masks"], **TOL)
    torch.testing.assert_close(fast["pred_logits"], ref["pred_logits"], **TOL)
    assert len(fast["aux_outputs"]) == len(ref["aux_outputs"]) == 5
    for a, b in zip(fast["aux_outputs"], ref["aux_outputs"]):
        torch.testing.assert_close(a["pred_masks"], b["pred_masks"], **TOL)


def test_cached_position_encoding_matches_fresh_one():
    pe = PositionEmbeddingSine(16, normalize=True)
    for shape in [(2, 3, 5, 7), (3, 3, 5, 7), (1, 3, 4, 4)]:
        x = torch.randn(shape)
        with use_reference_ops():
            expected = pe(x)
        assert torch.equal(pe(x), expected)
        with torch.inference_mode():
            assert torch.equal(pe(x), expected)
    # a padding mask is never served from the cache
    mask = torch.zeros(2, 5, 7, dtype=torch.bool)
    mask[:, :, 5:] = True
    with use_reference_ops():
        expected = pe(torch.randn(2, 3, 5, 7), mask)
    assert torch.equal(pe(torch.randn(2, 3, 5, 7), mask), expected)


def _inputs(sizes, num_classes=5):
    inputs = []
    for h, w in sizes:
        instances = Instances((h, w))
        instances.gt_classes = torch.randint(0, num_classes, (3,))
        masks = torch.zeros(3, h, w, dtype=torch.bool)
        masks[0, : h // 2], masks[1, h // 2 :, : w // 2], masks[2, h // 2 :, w // 2 :] = True, True, True
        instances.gt_masks = masks
        image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
        inputs.append({"image": image, "height": h, "width": w, "instances": instances})
    return inputs


@pytest.mark.parametrize("before_inference", [False, True])
def test_model_inference_fast_path_matches_reference(tiny_cfg, before_inference):
    """Padded batch (one image smaller than the other), one output resized, all three tasks."""
    tiny_cfg.MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE = before_inference
    tiny_cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = before_inference
    tiny_cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = before_inference
    tiny_cfg.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD = 0.0
    model = build_model(tiny_cfg).eval()
    model.thing_ids = (0, 1, 2)  # panoptic inference: classes 3, 4 are stuff
    inputs = _inputs([(64, 64), (48, 56)])
    inputs[1]["height"], inputs[1]["width"] = 40, 70
    with torch.inference_mode():
        fast = model(inputs)
    with torch.no_grad(), use_reference_ops():
        ref = model(inputs)
    for f, r in zip(fast, ref):
        torch.testing.assert_close(f["sem_seg"], r["sem_seg"], **TOL)
        if before_inference:
            assert torch.equal(f["panoptic_seg"][0], r["panoptic_seg"][0])
            assert f["panoptic_seg"][1] == r["panoptic_seg"][1]
            torch.testing.assert_close(f["instances"].scores, r["instances"].scores, **TOL)
            assert torch.equal(f["instances"].pred_masks, r["instances"].pred_masks)


def test_model_training_fast_path_matches_reference(tiny_cfg):
    """Same losses and gradients (deformable attention, attention, decoder) in both modes."""
    model = build_model(tiny_cfg).train()
    # At initialization the sampling offsets are whole pixels, where bilinear sampling has a
    # kink and the location gradient depends on rounding: move them off the grid.
    for name, p in model.named_parameters():
        if "sampling_offsets" in name:
            torch.nn.init.normal_(p, std=0.05)
    inputs = _inputs([(64, 64), (64, 64)])
    grads = {}
    for reference in (False, True):
        model.zero_grad()
        torch.manual_seed(1)  # the same sampled points in the matcher and the losses
        with use_reference_ops(reference):
            losses = model(copy.deepcopy(inputs))
        sum(losses.values()).backward()
        grads[reference] = (
            {k: v.detach() for k, v in losses.items()},
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
        )
    (fast_losses, fast_grads), (ref_losses, ref_grads) = grads[False], grads[True]
    assert fast_losses.keys() == ref_losses.keys()
    for k in fast_losses:
        torch.testing.assert_close(fast_losses[k], ref_losses[k], rtol=1e-5, atol=1e-6)
    assert fast_grads.keys() == ref_grads.keys()
    for n in fast_grads:
        torch.testing.assert_close(fast_grads[n], ref_grads[n], rtol=1e-4, atol=1e-5, msg=n)


def test_benchmark_tool_runs_both_modes(tmp_path):
    """tools/benchmark.py on a tiny config: table and JSON with fast and reference modes, and
    the two modes' outputs agree."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("benchmark", root / "tools" / "benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    config = root / "configs" / "quickstart" / "semantic.yaml"
    out = tmp_path / "bench.json"
    benchmark.main(
        ["--config-file", str(config), "--task", "both", "--size", "64", "--iters", "1",
         "--warmup", "1", "--reference", "--json", str(out)]
    )
    report = json.loads(out.read_text())
    modes = {(r["task"], r["mode"]) for r in report["results"]}
    assert modes == {(t, m) for t in ("infer", "train") for m in ("fast", "reference")}
    for r in report["results"]:
        assert r["median_s"] > 0 and r["peak_mib"] > 0
        assert abs(sum(r["share"].values()) - 1) < 0.05 or r["share"]["other"] == 0
    diff = report["comparisons"]["reference vs fast"]
    assert diff["sem_seg_max_abs_diff"] < 1e-4 and diff["sem_seg_argmax_agreement"] == 1.0

