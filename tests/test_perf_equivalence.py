"""The model computes the same function as its reference (``reference_model``: the published
formulations, with the reference kernels of ``use_reference_ops``): compiled deformable
attention, fused attention, attention masks from pre-resized mask features, the cached position
encoding, and the inference shortcuts. Compared in float32 to a tight tolerance."""

import copy

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Instances
from torch.nn import functional as F

from helpers.scripts import load_script
from helpers.training import QUICKSTART_SEMANTIC
from mask2former.layers import (
    compiled_op_available,
    reference_ops_enabled,
    token_linear,
    use_reference_ops,
)
from mask2former.layers.attention import (
    MultiheadAttention,
    explicit_attention,
)
from mask2former.layers.position_encoding import PositionEmbeddingSine
from mask2former.modeling.transformer_decoder import (
    build_transformer_decoder,
    mask2former_transformer_decoder,
)
from mask2former.utils.reference_model import reference_model

TOL = dict(rtol=1e-5, atol=1e-5)


def test_switch_nests_and_restores():
    initial = reference_ops_enabled()
    with use_reference_ops():
        assert reference_ops_enabled()
        with use_reference_ops(False):
            assert not reference_ops_enabled()
        assert reference_ops_enabled()
    assert reference_ops_enabled() == initial


def test_reference_model_shares_parameters_and_leaves_the_model_alone(tiny_cfg):
    model = build_model(tiny_cfg).eval()
    classes = [type(m) for m in model.modules()]
    reference = reference_model(model)
    assert [type(m) for m in model.modules()] == classes
    assert isinstance(reference, type(model)) and type(reference) is not type(model)
    assert not reference.training
    for (name, p), (ref_name, ref_p) in zip(model.named_parameters(), reference.named_parameters()):
        assert name == ref_name and p is ref_p
    for b, ref_b in zip(model.buffers(), reference.buffers()):
        assert b is ref_b


def test_reference_model_runs_the_published_formulations(tiny_cfg, monkeypatch):
    """The reference model resizes every full-resolution mask prediction for the attention
    masks, never calls the fused attention or the compiled deformable attention, and encodes
    positions afresh; the model itself does none of these (where the compiled op is built)."""
    model = build_model(tiny_cfg).eval()
    reference = reference_model(model)
    calls = {"mask sizes": [], "fused": 0, "compiled": 0}

    def counting(name, function):
        def counted(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return counted

    masked_attention_mask = mask2former_transformer_decoder.masked_attention_mask

    def recording(mask_logits, size):
        calls["mask sizes"].append(tuple(mask_logits.shape[-2:]))
        return masked_attention_mask(mask_logits, size)

    monkeypatch.setattr(mask2former_transformer_decoder, "masked_attention_mask", recording)
    monkeypatch.setattr(
        F, "scaled_dot_product_attention", counting("fused", F.scaled_dot_product_attention)
    )
    if compiled_op_available("cpu"):
        compiled = counting("compiled", torch.ops.mask2former.ms_deform_attn)
        monkeypatch.setattr(torch.ops.mask2former, "ms_deform_attn", compiled)
    inputs = _inputs([(64, 64)])
    with torch.no_grad():
        reference(inputs)
        assert calls == {"mask sizes": [(16, 16)] * 3, "fused": 0, "compiled": 0}
        assert not reference.sem_seg_head.predictor.pe_layer._cache
        with use_reference_ops(False):
            model(inputs)
    assert calls["mask sizes"][3:] == [(2, 2), (4, 4), (8, 8)]
    assert calls["fused"] > 0 and (calls["compiled"] > 0) == compiled_op_available("cpu")
    assert model.sem_seg_head.predictor.pe_layer._cache


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
    reference = reference_model(decoder)
    feats = [torch.randn(2, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(2, 32, 16, 16)
    seen = {decoder: [], reference: []}
    for model in seen:
        for layer in model.transformer_cross_attention_layers:
            layer.register_forward_hook(
                lambda m, args, kwargs, out, masks=seen[model]: masks.append(kwargs["attn_mask"]),
                with_kwargs=True,
            )
    with torch.no_grad():
        fast = decoder(feats, mask_features)
        ref = reference(feats, mask_features)
    for a, b in zip(seen[decoder], seen[reference]):
        assert torch.equal(a, b)
    assert len(seen[decoder]) == 5 and not all(m.all() for m in seen[decoder])  # masks do restrict
    torch.testing.assert_close(fast["pred_masks"], ref["pred_masks"], **TOL)
    torch.testing.assert_close(fast["pred_logits"], ref["pred_logits"], **TOL)
    assert len(fast["aux_outputs"]) == len(ref["aux_outputs"]) == 5
    for a, b in zip(fast["aux_outputs"], ref["aux_outputs"]):
        torch.testing.assert_close(a["pred_masks"], b["pred_masks"], **TOL)


def test_cached_position_encoding_matches_fresh_one():
    pe = PositionEmbeddingSine(16, normalize=True)
    fresh = reference_model(pe)
    for shape in [(2, 3, 5, 7), (3, 3, 5, 7), (1, 3, 4, 4)]:
        x = torch.randn(shape)
        expected = fresh(x)
        assert torch.equal(pe(x), expected)
        with torch.inference_mode():
            assert torch.equal(pe(x), expected)
    assert len(pe._cache) == 4 and not fresh._cache  # (size, inference mode) pairs; none
    # a padding mask is never served from the cache
    mask = torch.zeros(2, 5, 7, dtype=torch.bool)
    mask[:, :, 5:] = True
    expected = fresh(torch.randn(2, 3, 5, 7), mask)
    assert torch.equal(pe(torch.randn(2, 3, 5, 7), mask), expected)


def _inputs(sizes, num_classes=5):
    inputs = []
    for h, w in sizes:
        instances = Instances((h, w))
        instances.gt_classes = torch.randint(0, num_classes, (3,))
        masks = torch.zeros(3, h, w, dtype=torch.bool)
        masks[0, : h // 2], masks[1, h // 2 :, : w // 2], masks[2, h // 2 :, w // 2 :] = (
            True,
            True,
            True,
        )
        instances.gt_masks = masks
        image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
        inputs.append({"image": image, "height": h, "width": w, "instances": instances})
    return inputs


@pytest.mark.parametrize("before_inference", [False, True])
def test_model_inference_fast_path_matches_reference(tiny_cfg, before_inference, monkeypatch):
    """Padded batch (one image smaller than the other), one output resized, all three tasks."""
    # the tiny images' encoder sequences are short: let them take the 1x1-convolution linear
    # that real sizes take (TokenLinear)
    monkeypatch.setattr(token_linear, "MIN_TOKENS", 1)
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
    with torch.no_grad():
        ref = reference_model(model)(inputs)
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
    for reference, run in ((False, model), (True, reference_model(model))):
        run.zero_grad()
        torch.manual_seed(1)  # the same sampled points in the matcher and the losses
        losses = run(copy.deepcopy(inputs))
        sum(losses.values()).backward()
        grads[reference] = (
            {k: v.detach() for k, v in losses.items()},
            {n: p.grad.clone() for n, p in run.named_parameters() if p.grad is not None},
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
    import json

    benchmark = load_script("tools/benchmark.py")
    config = QUICKSTART_SEMANTIC
    out = tmp_path / "bench.json"
    benchmark.main(
        [
            "--config-file",
            str(config),
            "--task",
            "both",
            "--size",
            "64",
            "--iters",
            "1",
            "--warmup",
            "1",
            "--reference",
            "--json",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    modes = {(r["task"], r["mode"]) for r in report["results"]}
    assert modes == {(t, m) for t in ("infer", "train") for m in ("fast", "reference")}
    for r in report["results"]:
        assert r["median_s"] > 0 and r["peak_mib"] > 0
        assert abs(sum(r["share"].values()) - 1) < 0.05 or r["share"]["other"] == 0
    diff = report["comparisons"]["reference vs fast"]
    assert diff["sem_seg_max_abs_diff"] < 1e-4 and diff["sem_seg_argmax_agreement"] == 1.0
