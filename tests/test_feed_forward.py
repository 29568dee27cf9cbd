"""feed_forward: the values and gradients of linear -> activation -> linear, and an in-place
activation that autograd records as such (not as a copy into a zero-filled base tensor)."""

import torch
from torch import nn
from torch.nn import functional as F

from mask2former.layers.mlp import feed_forward


def _graph_names(tensor: torch.Tensor) -> set:
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def _layers():
    torch.manual_seed(0)
    return nn.Linear(8, 32), nn.Linear(32, 8)


def test_values_and_gradients_equal_the_plain_composition():
    linear1, linear2 = _layers()
    x = torch.randn(2, 5, 8, requires_grad=True)
    out = feed_forward(x, (linear1, linear2), F.relu_, nn.Dropout(0.0))
    assert out.shape == (2, 5, 8)
    grads = torch.autograd.grad(out.square().sum(), [x, linear1.weight, linear2.bias])

    reference = linear2(F.relu(linear1(x)))
    reference_grads = torch.autograd.grad(
        reference.square().sum(), [x, linear1.weight, linear2.bias]
    )
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    for got, expected in zip(grads, reference_grads):
        torch.testing.assert_close(got, expected)


def test_in_place_activation_is_not_recorded_on_a_view():
    linear1, linear2 = _layers()
    x = torch.randn(2, 5, 8, requires_grad=True)
    names = _graph_names(feed_forward(x, (linear1, linear2), F.relu_))
    assert "ReluBackward0" in names
    # an in-place op on a view of the linear layer's output becomes CopySlices + AsStrided
    assert not names & {"CopySlices", "AsStridedBackward0"}, names


def test_leading_dimensions_of_any_rank():
    linear1, linear2 = _layers()
    for shape in [(8,), (3, 8), (2, 3, 4, 8)]:
        x = torch.randn(shape)
        out = feed_forward(x, (linear1, linear2), F.relu)
        torch.testing.assert_close(out, linear2(F.relu(linear1(x))))
