"""Zero- (or value-) padding of images and feature maps up to multiples of a size."""

import torch
from torch.nn import functional as F


def pad_to_multiple(
    x: torch.Tensor, multiple: int, value: float = 0, channels_last: bool = False
) -> torch.Tensor:
    """Pads the height and width of ``x`` at the bottom and right up to multiples of
    ``multiple`` with ``value``; ``x`` itself when they already are.

    Args:
        x: (..., H, W), or (..., H, W, C) with ``channels_last``; bool tensors are padded too
            (through uint8, which F.pad supports).
    """
    h, w = x.shape[-3:-1] if channels_last else x.shape[-2:]
    pad_h = -h % multiple
    pad_w = -w % multiple
    if not (pad_h or pad_w):
        return x
    pad = [0, 0, 0, pad_w, 0, pad_h] if channels_last else [0, pad_w, 0, pad_h]
    if x.dtype == torch.bool:
        return F.pad(x.to(torch.uint8), pad, value=int(value)).bool()
    return F.pad(x, pad, value=value)
