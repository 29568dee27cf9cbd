"""``nn.Linear`` over long token sequences, computed by oneDNN's 1x1 convolution where that is
faster: in CPU inference of float32 sequences of at least ``MIN_TOKENS`` tokens.

PyTorch computes a float32 ``F.linear`` on the CPU with its BLAS (MKL); the same product as a
1x1 convolution of a channels-last map runs in oneDNN, which was faster for thousands of tokens
on the CPU measured (docs/performance.md, issue 18's fourth round), while its backward was slower
and short sequences gained nothing. So the convolution is used only without autograd, and only
for sequences of ``MIN_TOKENS`` or more. The parameters, their names and the result (up to float
rounding) are those of ``nn.Linear``; the kernel switch of ``reference_mode`` selects plain
``F.linear``, and so do torch.compile and torch.export (a test of the sequence length would
specialise their dynamic shapes).
"""

import torch
from torch import nn
from torch.nn import functional as F

from .reference_mode import reference_ops_enabled

MIN_TOKENS = 2048


def convolution_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether ``linear_of_tokens`` computes (..., C_in) tokens ``x`` as a 1x1 convolution."""
    return (
        not torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and x.dim() >= 2
        and x.numel() >= MIN_TOKENS * x.shape[-1]
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and not torch.is_autocast_enabled("cpu")
        and torch.backends.mkldnn.is_available()
        and not reference_ops_enabled()
    )


def linear_of_tokens(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for (..., C_in) tokens, (C_out, C_in) weight:
    (..., C_out)."""
    if not convolution_applies(x, weight):
        return F.linear(x, weight, bias)
    lead, c_in = x.shape[:-1], x.shape[-1]
    # (T, C_in) rows are a (1, C_in, T, 1) channels-last map; the output comes back the same way
    tokens = x.reshape(1, -1, 1, c_in).permute(0, 3, 1, 2)
    out = F.conv2d(tokens, weight[:, :, None, None], bias)
    return out.permute(0, 2, 3, 1).reshape(*lead, weight.shape[0])


class TokenLinear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict keys) computed by :func:`linear_of_tokens`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear_of_tokens(x, self.weight, self.bias)
