"""The small MLP that turns query embeddings into mask embeddings."""
import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (not after the last).
    Parameters are ``layers.{i}.{weight,bias}`` as in the published checkpoints."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)"""
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)
