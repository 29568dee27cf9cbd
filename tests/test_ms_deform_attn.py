"""Multi-scale deformable attention: the compiled operator against the pure-PyTorch reference
(itself checked against a direct evaluation of the bilinear formula), gradients, bad arguments,
torch.compile / torch.export, the fallback, and the MSDeformAttn module."""

import sys

import pytest
import torch

from helpers.ops import needs_cpu_op, needs_cuda_op
from mask2former.layers import (
    MSDeformAttn,
    compiled_op_available,
    ms_deform_attn,
    ms_deform_attn_reference,
    use_reference_ops,
)
from mask2former.layers._ops import load_compiled_ops

# Odd level sizes, including a 1x1 level and a non-square one.
ODD_SHAPES = [(5, 7), (3, 4), (1, 1)]


def make_inputs(
    shapes=ODD_SHAPES,
    batch=2,
    heads=3,
    channels=4,
    queries=6,
    points=2,
    dtype=torch.float64,
    device="cpu",
    spread=0.3,
    seed=0,
):
    """Random inputs; locations range over [-spread, 1 + spread] so that some samples fall
    partly or wholly outside the maps."""
    gen = torch.Generator().manual_seed(seed)
    spatial_shapes = torch.tensor(shapes, dtype=torch.int64)
    sizes = spatial_shapes.prod(dim=1)
    starts = torch.cumsum(sizes, 0) - sizes
    num_levels = len(shapes)
    value = torch.randn(
        batch, int(sizes.sum()), heads, channels, generator=gen, dtype=torch.float64
    )
    locations = torch.rand(
        batch, queries, heads, num_levels, points, 2, generator=gen, dtype=torch.float64
    )
    locations = locations * (1 + 2 * spread) - spread
    weights = torch.rand(
        batch, queries, heads, num_levels, points, generator=gen, dtype=torch.float64
    )
    return [
        value.to(device, dtype),
        spatial_shapes.to(device),
        starts.to(device),
        locations.to(device, dtype),
        weights.to(device, dtype),
    ]


def compiled(*args):
    with use_reference_ops(False):
        return ms_deform_attn(*args)


def bilinear_by_formula(value, spatial_shapes, level_start_index, locations, weights):
    """Direct evaluation with Python loops: pixel (i, j) of a H x W level has its centre at
    ((j + 0.5) / W, (i + 0.5) / H); outside the map the level is zero."""
    n, _, m, d = value.shape
    _, q, _, num_levels, p, _ = locations.shape
    out = torch.zeros(n, q, m, d, dtype=value.dtype)
    for b in range(n):
        for qi in range(q):
            for h in range(m):
                for lvl in range(num_levels):
                    height, width = spatial_shapes[lvl].tolist()
                    start = int(level_start_index[lvl])
                    for pt in range(p):
                        x = float(locations[b, qi, h, lvl, pt, 0]) * width - 0.5
                        y = float(locations[b, qi, h, lvl, pt, 1]) * height - 0.5
                        x0, y0 = int(torch.tensor(x).floor()), int(torch.tensor(y).floor())
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < height and 0 <= xx < width:
                                w = (1 - abs(x - xx)) * (1 - abs(y - yy))
                                out[b, qi, h] += (
                                    float(weights[b, qi, h, lvl, pt])
                                    * w
                                    * value[b, start + yy * width + xx, h]
                                )
    return out.reshape(n, q, m * d)


def test_reference_matches_bilinear_formula():
    args = make_inputs(batch=1, heads=2, channels=2, queries=4)
    torch.testing.assert_close(ms_deform_attn_reference(*args), bilinear_by_formula(*args))


def test_reference_pixel_centres():
    """Sampling exactly at a pixel centre returns that pixel."""
    value = torch.arange(12, dtype=torch.float64).view(1, 12, 1, 1)  # one 3x4 level
    shapes, starts = torch.tensor([[3, 4]]), torch.tensor([0])
    loc = torch.tensor([(2 + 0.5) / 4, (1 + 0.5) / 3], dtype=torch.float64).view(1, 1, 1, 1, 1, 2)
    weights = torch.ones(1, 1, 1, 1, 1, dtype=torch.float64)
    assert (
        ms_deform_attn_reference(value, shapes, starts, loc, weights).item() == 6.0
    )  # row 1, col 2


@needs_cpu_op
@pytest.mark.parametrize(
    "case",
    [
        dict(),
        dict(batch=1, heads=1, channels=1, queries=1, points=1, shapes=[(2, 3)]),
        dict(spread=1.5),  # most samples outside
        dict(channels=33, heads=2, points=3),
        dict(shapes=[(8, 8), (4, 4), (2, 2), (1, 1)], batch=3),
    ],
    ids=["odd-levels", "single", "mostly-outside", "33-channels", "4-levels-batch3"],
)
def test_cpu_op_matches_reference_float64(case):
    args = make_inputs(**case)
    args = [a.requires_grad_() if a.is_floating_point() else a for a in args]
    out, ref = compiled(*args), ms_deform_attn_reference(*args)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    inputs = (args[0], args[3], args[4])
    for g_op, g_ref in zip(
        torch.autograd.grad(out, inputs, grad), torch.autograd.grad(ref, inputs, grad)
    ):
        torch.testing.assert_close(g_op, g_ref, rtol=1e-10, atol=1e-10)


@needs_cpu_op
def test_cpu_op_gradcheck():
    value, shapes, starts, loc, weights = make_inputs(batch=2, heads=2, channels=3, queries=3)
    inputs = [t.requires_grad_() for t in (value, loc, weights)]
    assert torch.autograd.gradcheck(
        lambda v, loc, w: compiled(v, shapes, starts, loc, w), inputs, eps=1e-6, atol=1e-5
    )


@needs_cpu_op
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("locations_dtype", ["same", "float32"])
def test_cpu_op_low_precision(dtype, locations_dtype):
    value, shapes, starts, loc, weights = make_inputs(channels=16)
    loc_dtype = dtype if locations_dtype == "same" else torch.float32
    args = [value.to(dtype), shapes, starts, loc.to(loc_dtype), weights.to(loc_dtype)]
    out = compiled(*args)
    assert out.dtype == dtype
    # oracle: float64 on the same rounded inputs
    expected = ms_deform_attn_reference(*[a.double() if a.is_floating_point() else a for a in args])
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)
    grads = torch.autograd.grad(
        compiled(*[a.requires_grad_() if a.is_floating_point() else a for a in args]).sum(),
        [args[0], args[3], args[4]],
    )
    assert [g.dtype for g in grads] == [dtype, loc_dtype, loc_dtype]


@needs_cpu_op
def test_cpu_op_non_contiguous_inputs():
    value, shapes, starts, loc, weights = make_inputs(channels=6)
    # Same values in non-contiguous layouts.
    value_nc = value.transpose(1, 2).contiguous().transpose(1, 2)
    loc_nc = loc.permute(5, 0, 1, 2, 3, 4).contiguous().permute(1, 2, 3, 4, 5, 0)
    weights_nc = torch.stack([weights, weights], dim=-1)[..., 0]
    shapes_nc = torch.stack([shapes[:, 0], torch.zeros_like(shapes[:, 0]), shapes[:, 1]], 1)[:, ::2]
    assert not any(t.is_contiguous() for t in (value_nc, loc_nc, weights_nc, shapes_nc))
    torch.testing.assert_close(
        compiled(value_nc, shapes_nc, starts, loc_nc, weights_nc),
        ms_deform_attn_reference(value, shapes, starts, loc, weights),
    )
    inputs = [t.requires_grad_() for t in (value_nc, loc_nc, weights_nc)]
    out = compiled(inputs[0], shapes_nc, starts, inputs[1], inputs[2])
    grad = torch.randn_like(out).transpose(0, 1).contiguous().transpose(0, 1)  # non-contiguous too
    expected = torch.autograd.grad(
        ms_deform_attn_reference(inputs[0], shapes, starts, inputs[1], inputs[2]), inputs, grad
    )
    for g, e in zip(torch.autograd.grad(out, inputs, grad), expected):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("path", ["compiled", "reference"])
def test_empty_query_set(path):
    if path == "compiled" and not compiled_op_available("cpu"):
        pytest.skip("mask2former._C is not built")
    value, shapes, starts, loc, weights = make_inputs(queries=0)
    value.requires_grad_()
    fn = compiled if path == "compiled" else ms_deform_attn_reference
    out = fn(value, shapes, starts, loc, weights)
    assert out.shape == (2, 0, 12)
    (grad_value,) = torch.autograd.grad(out.sum(), [value])
    assert torch.equal(grad_value, torch.zeros_like(value))


def _bad_arguments():
    value, shapes, starts, loc, weights = make_inputs()
    return {
        # name: (arguments, exception, text the message must contain)
        "value-rank": ((value[0], shapes, starts, loc, weights), ValueError, "value"),
        "heads-mismatch": (
            (value[:, :, :2], shapes, starts, loc, weights),
            ValueError,
            "sampling_locations",
        ),
        "weights-shape": (
            (value, shapes, starts, loc, weights[..., :1]),
            ValueError,
            "attention_weights",
        ),
        "levels-mismatch": (
            (value, shapes[:2], starts, loc, weights),
            ValueError,
            "spatial_shapes",
        ),
        "start-index": ((value, shapes, starts + 1, loc, weights), ValueError, "level_start_index"),
        "positions": ((value[:, :-1], shapes, starts, loc, weights), ValueError, "positions"),
        "int-value": ((value.long(), shapes, starts, loc, weights), TypeError, "value"),
        "mixed-dtypes": (
            (value, shapes, starts, loc.float(), weights),
            TypeError,
            "sampling_locations",
        ),
        "int32-shapes": ((value, shapes.int(), starts, loc, weights), TypeError, "spatial_shapes"),
    }


@pytest.mark.parametrize("path", ["compiled", "reference"])
@pytest.mark.parametrize("name", sorted(_bad_arguments()))
def test_bad_arguments_raise_clear_errors(path, name):
    if path == "compiled" and not compiled_op_available("cpu"):
        pytest.skip("mask2former._C is not built")
    args, error, text = _bad_arguments()[name]
    with use_reference_ops(path == "reference"):
        with pytest.raises(error, match=text):
            ms_deform_attn(*args)


@needs_cpu_op
def test_opcheck():
    """PyTorch's own custom-op checks: schema, fake kernel, autograd registration."""
    args = make_inputs(batch=1, heads=2, channels=2, queries=3)
    args[0].requires_grad_()
    args[3].requires_grad_()
    torch.library.opcheck(torch.ops.mask2former.ms_deform_attn.default, args)


@needs_cpu_op
def test_torch_compile_fullgraph_forward_backward():
    torch._dynamo.reset()
    value, shapes, starts, loc, weights = make_inputs(dtype=torch.float32)
    inputs = [t.requires_grad_() for t in (value, loc, weights)]

    @torch.compile(fullgraph=True, backend="aot_eager")
    def fn(v, loc, w):
        return (ms_deform_attn(v, shapes, starts, loc, w) * 2.0).sum()

    grads = torch.autograd.grad(fn(*inputs), inputs)
    expected = torch.autograd.grad(
        (ms_deform_attn_reference(inputs[0], shapes, starts, inputs[1], inputs[2]) * 2.0).sum(),
        inputs,
    )
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@needs_cpu_op
def test_torch_export():
    module = MSDeformAttn(d_model=16, n_levels=2, n_heads=2, n_points=2).eval()
    shapes = torch.tensor([[4, 5], [2, 3]])
    starts = torch.tensor([0, 20])
    query = torch.randn(1, 7, 16)
    ref_points = torch.rand(1, 7, 2, 2)
    flat = torch.randn(1, 26, 16)
    args = (query, ref_points, flat, shapes, starts)
    exported = torch.export.export(module, args)
    assert "mask2former.ms_deform_attn" in str(exported.graph)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(*args), module(*args))


def _called_ops(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {event.name for event in prof.events()}


@pytest.mark.parametrize("force_reference", [True, False])
def test_use_reference_ops_switch(force_reference):
    args = make_inputs()
    with use_reference_ops(force_reference):
        called = _called_ops(lambda: ms_deform_attn(*args))
    uses_op = compiled_op_available("cpu") and not force_reference
    assert ("mask2former::ms_deform_attn" in called) == uses_op
    assert ("aten::grid_sampler_2d" in called) == (not uses_op)


def test_missing_extension_warns_and_falls_back(monkeypatch):
    import mask2former

    # makes `from mask2former import _C` fail as if the library had not been built
    monkeypatch.delattr(mask2former, "_C", raising=False)
    monkeypatch.setitem(sys.modules, "mask2former._C", None)
    with pytest.warns(UserWarning, match="pip install --no-build-isolation -e"):
        assert load_compiled_ops() == frozenset()


@pytest.mark.parametrize("path", ["compiled", "reference"])
@pytest.mark.parametrize("reference_dims", [2, 4])
def test_msdeformattn_module(path, reference_dims):
    if path == "compiled" and not compiled_op_available("cpu"):
        pytest.skip("mask2former._C is not built")
    torch.manual_seed(0)
    module = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3)
    assert {name for name, _ in module.named_parameters()} == {
        f"{layer}.{kind}"
        for layer in ("sampling_offsets", "attention_weights", "value_proj", "output_proj")
        for kind in ("weight", "bias")
    }
    shapes, starts = torch.tensor([[4, 5], [2, 3]]), torch.tensor([0, 20])
    query, flat = torch.randn(2, 9, 16), torch.randn(2, 26, 16)
    ref_points = torch.rand(2, 9, 2, reference_dims)
    padding = torch.zeros(2, 26, dtype=torch.bool)
    padding[1, -3:] = True
    with use_reference_ops(path == "reference"):
        out = module(query, ref_points, flat, shapes, starts, padding)
    with use_reference_ops():
        expected = module(query, ref_points, flat, shapes, starts, padding)
    assert out.shape == (2, 9, 16)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert module.sampling_offsets.weight.grad.abs().sum() > 0


@needs_cuda_op
@pytest.mark.parametrize(
    "dtype,tol",
    [(torch.float64, 1e-10), (torch.float32, 1e-4), (torch.float16, 2e-2), (torch.bfloat16, 5e-2)],
)
@pytest.mark.parametrize("channels", [32, 3, 256])  # vectorized, scalar, groups wider than a warp
def test_cuda_op_matches_reference(dtype, tol, channels):
    heads = 8 if channels == 32 else (1 if channels == 256 else 2)
    value, shapes, starts, loc, weights = make_inputs(
        channels=channels, heads=heads, queries=50, points=4, device="cuda"
    )
    # locations and weights in the accumulation dtype, as under autocast
    loc_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    inputs = [value.to(dtype), loc.to(loc_dtype), weights.to(loc_dtype)]
    inputs = [t.requires_grad_() for t in inputs]
    out = compiled(inputs[0], shapes, starts, inputs[1], inputs[2])
    assert out.dtype == dtype
    oracle = [t.detach().double().requires_grad_() for t in inputs]
    expected = ms_deform_attn_reference(oracle[0], shapes, starts, oracle[1], oracle[2])
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)
    grad = torch.randn_like(expected)
    grads = torch.autograd.grad(out, inputs, grad.to(dtype))
    for g, t, e in zip(grads, inputs, torch.autograd.grad(expected, oracle, grad)):
        assert g.dtype == t.dtype
        torch.testing.assert_close(g.double(), e, rtol=tol * 10, atol=tol * 10)


@needs_cuda_op
def test_cuda_op_gradcheck_and_errors():
    value, shapes, starts, loc, weights = make_inputs(device="cuda")
    inputs = [t.requires_grad_() for t in (value, loc, weights)]
    # atomics make the value gradient's summation order vary between runs
    assert torch.autograd.gradcheck(
        lambda v, loc, w: compiled(v, shapes, starts, loc, w),
        inputs,
        eps=1e-6,
        atol=1e-5,
        nondet_tol=1e-10,
    )
    with pytest.raises(ValueError, match="spatial_shapes"):
        compiled(value, shapes.cpu(), starts, loc, weights)
    with pytest.raises(ValueError, match="positions"):
        compiled(value[:, :-1], shapes, starts, loc, weights)


@pytest.mark.parametrize("path", ["compiled", "reference"])
def test_msdeformattn_module_under_bfloat16_autocast(path, monkeypatch):
    """Under autocast the value goes to the sampling in bfloat16, while the sampling locations
    and attention weights stay float32; the result stays close to the float32 one."""
    if path == "compiled" and not compiled_op_available("cpu"):
        pytest.skip("mask2former._C is not built")
    module_file = sys.modules[MSDeformAttn.__module__]  # the package exports a same-named function
    seen = []

    def recording(value, shapes, starts, locations, weights):
        seen.append((value.dtype, locations.dtype, weights.dtype))
        return ms_deform_attn(value, shapes, starts, locations, weights)

    torch.manual_seed(0)
    module = MSDeformAttn(d_model=32, n_levels=2, n_heads=4, n_points=3)
    torch.nn.init.normal_(module.sampling_offsets.weight, std=0.5)  # locations depend on query
    shapes, starts = torch.tensor([[8, 10], [4, 5]]), torch.tensor([0, 80])
    query, flat = torch.randn(2, 9, 32), torch.randn(2, 100, 32)
    ref_points = torch.rand(2, 9, 2, 2)
    with use_reference_ops(path == "reference"), torch.no_grad():
        expected = module(query, ref_points, flat, shapes, starts)
        monkeypatch.setattr(module_file, "ms_deform_attn", recording)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(query, ref_points, flat, shapes, starts)
    assert seen == [(torch.bfloat16, torch.float32, torch.float32)]
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05)
