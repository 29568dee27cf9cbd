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
    ``linear1``/``linear2``, Swin's ``fc1``/``fc2``) and passes them here."""
    *hidden, last = linears
    for linear in hidden:
        x = activation(linear(x))
        if dropout is not None:
            x = dropout(x)
    x = last(x)
    return x if dropout is None else dropout(x)


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
