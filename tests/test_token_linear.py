"""TokenLinear: nn.Linear computed as oneDNN's 1x1 convolution in CPU inference of long float32
sequences, plain F.linear everywhere else."""

import pytest
import torch
from torch.nn import functional as F

from mask2former.layers import token_linear, use_reference_ops
from mask2former.layers.token_linear import TokenLinear, convolution_applies, linear_of_tokens

LONG = token_linear.MIN_TOKENS


@pytest.mark.parametrize("shape", [(LONG, 64), (2, LONG // 2 + 3, 64), (1, 3, LONG, 32)])
def test_convolution_equals_linear(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    weight, bias = torch.randn(48, shape[-1]), torch.randn(48)
    with torch.no_grad():
        assert convolution_applies(x, weight)
        out = linear_of_tokens(x, weight, bias)
    assert out.shape == (*shape[:-1], 48) and out.is_contiguous()
    torch.testing.assert_close(out, F.linear(x, weight, bias), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        linear_of_tokens(x, weight), F.linear(x, weight), rtol=1e-5, atol=1e-5
    )


def test_convolution_only_in_cpu_float32_inference_of_long_sequences():
    x, weight = torch.randn(LONG, 8), torch.randn(4, 8)
    assert not convolution_applies(x[:-1], weight)  # short
    assert not convolution_applies(x.double(), weight.double())
    assert not convolution_applies(x, weight.requires_grad_())  # autograd records it
    with torch.no_grad():
        assert convolution_applies(x, weight)
        with use_reference_ops():
            assert not convolution_applies(x, weight)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not convolution_applies(x, weight)


def test_module_is_a_linear_with_its_parameters_and_gradients():
    torch.manual_seed(0)
    ours, plain = TokenLinear(16, 8), torch.nn.Linear(16, 8)
    plain.load_state_dict(ours.state_dict())
    assert isinstance(ours, torch.nn.Linear)
    assert list(ours.state_dict()) == ["weight", "bias"]
    x = torch.randn(2, LONG, 16)
    ours(x).square().sum().backward()
    plain(x).square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, plain.weight.grad)
    torch.testing.assert_close(ours.bias.grad, plain.bias.grad)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), plain(x), rtol=1e-5, atol=1e-5)


def test_traced_programs_keep_linear_with_dynamic_lengths():
    """torch.export with a dynamic sequence length: no length test specialises it, the program
    holds the linear product and runs at lengths on both sides of MIN_TOKENS."""
    module = TokenLinear(8, 4).eval()
    length = torch.export.Dim("length", min=2, max=4 * LONG)
    with torch.no_grad():
        program = torch.export.export(
            module, (torch.randn(1, LONG + 5, 8),), dynamic_shapes=({1: length},)
        )
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "aten.linear.default" in targets and "aten.conv2d.default" not in targets, targets
    for n in (3, 2 * LONG):
        x = torch.randn(1, n, 8)
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), module(x), rtol=1e-5, atol=1e-5)
