"""Multi-layer perceptrons: the computation every feed-forward network of the model shares, and
the small MLP that turns query embeddings into mask embeddings."""

from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F


def feed_forward(
    x: torch.Tensor,
    linears: Sequence[nn.Module],
    activation: Callable[[torch.Tensor], torch.Tensor],
    dropout: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> torch.Tensor:
    """``linears`` in turn, with ``activation`` after each but the last and, when given,
    ``dropout`` after each activation and after the last layer. (..., in) -> (..., out).

    Each module names its linear layers as its published checkpoints do (``layers.{i}``,
    ``linear1``/``linear2``, Swin's ``fc1``/``fc2``) and passes them here. An in-place
    ``activation`` (``F.relu_``) is fine: the layers run on (tokens, channels) rows, so each
    linear layer returns a tensor of its own rather than a view, on which autograd would record
    the in-place op as a copy into a zero-filled base."""
    *hidden, last = linears
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    for linear in hidden:
        x = activation(linear(x))
        if dropout is not None:
            x = dropout(x)
    x = last(x)
    if dropout is not None:
        x = dropout(x)
    return x.view(*lead, x.shape[-1])


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (not after the last).
    Parameters are ``layers.{i}.{weight,bias}`` as in the published checkpoints."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)"""
        return feed_forward(x, self.layers, F.relu)
