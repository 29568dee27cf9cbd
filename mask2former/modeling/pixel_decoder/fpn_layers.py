"""The feature pyramid (FPN) of the pixel decoders: its settings, its convolutions (registered
under the published names) and its top-down pass."""

from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn
from torch.nn import functional as F

from ...layers.feature_levels import head_input_shape


def fpn_config(cfg, input_shape: Dict[str, ShapeSpec]) -> Dict:
    """The arguments every FPN pixel decoder takes from MODEL.SEM_SEG_HEAD: its backbone
    features ``input_shape``, the FPN channels ``conv_dim``, the mask features' ``mask_dim`` and
    the convolutions' ``norm``."""
    head = cfg.MODEL.SEM_SEG_HEAD
    return dict(
        input_shape=head_input_shape(cfg, input_shape),
        conv_dim=head.CONVS_DIM,
        mask_dim=head.MASK_DIM,
        norm=head.NORM,
    )


def conv_norm_relu(in_channels: int, out_channels: int, norm, kernel_size: int = 3) -> Conv2d:
    """A conv + norm (+ ReLU for 3x3 convs), Xavier-initialized; a bias only when ``norm`` is ""."""
    conv = Conv2d(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        padding=kernel_size // 2,
        bias=norm == "",
        norm=get_norm(norm, out_channels),
        activation=F.relu if kernel_size == 3 else None,
    )
    weight_init.c2_xavier_fill(conv)
    return conv


def add_fpn_convs(
    decoder: nn.Module,
    in_channels: Sequence[int],
    conv_dim: int,
    norm: Optional[Union[str, Callable]],
) -> Tuple[List[Conv2d], List[Conv2d]]:
    """Adds to ``decoder``, for each level i = 1, 2, ... of ``in_channels`` (finest first), a
    1x1 lateral conv ``adapter_{i}`` from its channels to ``conv_dim`` and a 3x3 output conv
    ``layer_{i}`` (the published names). Returns the lateral and the output convs, coarsest
    first: the order of :func:`fpn_top_down`."""
    lateral_convs, output_convs = [], []
    for idx, channels in enumerate(in_channels):
        lateral = conv_norm_relu(channels, conv_dim, norm, kernel_size=1)
        output = conv_norm_relu(conv_dim, conv_dim, norm)
        decoder.add_module(f"adapter_{idx + 1}", lateral)
        decoder.add_module(f"layer_{idx + 1}", output)
        lateral_convs.append(lateral)
        output_convs.append(output)
    return lateral_convs[::-1], output_convs[::-1]


def fpn_top_down(
    top: torch.Tensor,
    features: Sequence[torch.Tensor],
    lateral_convs: Sequence[nn.Module],
    output_convs: Sequence[nn.Module],
    mode: str,
) -> List[torch.Tensor]:
    """The top-down pass: each finer level's lateral conv output plus the previous (coarser)
    output, upsampled to its size with ``mode`` ("nearest" or "bilinear") and cast to its dtype,
    goes through the level's output conv.

    Args:
        top: (N, conv_dim, h, w) the coarsest output, where the pass starts.
        features: the finer levels (N, C_l, H_l, W_l), coarsest first, with their
            ``lateral_convs`` and ``output_convs`` (see :func:`add_fpn_convs`).
    Returns:
        the output of every level of ``features``, (N, conv_dim, H_l, W_l), coarsest first.
    """
    align_corners = None if mode == "nearest" else False
    outputs = []
    y = top
    for x, lateral, output in zip(features, lateral_convs, output_convs):
        lat = lateral(x)
        up = F.interpolate(y, size=lat.shape[-2:], mode=mode, align_corners=align_corners)
        y = output(lat + up.to(lat.dtype))
        outputs.append(y)
    return outputs
