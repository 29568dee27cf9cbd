"""Sinusoidal position encodings (DETR's "sine" embedding, normalized to [0, 2*pi]): 2-D over
(y, x) for images, 3-D over (t, y, x) for video clips."""

import math
from collections import OrderedDict
from typing import Optional

import torch
from torch import nn


def sine_channels(positions: torch.Tensor, num_feats: int, temperature: float) -> torch.Tensor:
    """(...) float32 positions -> (..., num_feats) encodings: channel pair i holds the sine
    and the cosine of ``position / temperature^(2i / num_feats)`` (sin on even channels, cos on
    odd ones)."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    t = positions[..., None] / dim_t
    return torch.stack((t[..., 0::2].sin(), t[..., 1::2].cos()), dim=-1).flatten(-2)


class PositionEmbeddingSine(nn.Module):
    """Encodes each pixel's (y, x) position with sines and cosines of ``num_pos_feats``
    frequencies per axis, giving ``2 * num_pos_feats`` channels (y channels first).

    With ``normalize``, positions are scaled so that the last row/column sits at ``scale``,
    which makes the encoding independent of the feature map's size.

    Without a padding mask the encoding depends only on (H, W): the last few are cached and
    returned expanded over the batch (read-only), except while torch.compile / torch.export
    trace."""

    cache_size = 8  # sizes kept; 0 disables the cache

    def __init__(
        self,
        num_pos_feats: int = 64,
        temperature: float = 10000.0,
        normalize: bool = False,
        scale: Optional[float] = None,
    ):
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSine: 'scale' is only used with normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        self._cache = OrderedDict()

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            x: (N, C, H, W); only its shape and device are used.
            mask: (N, H, W) bool, True at padding, or None.
        Returns:
            (N, 2 * num_pos_feats, H, W) float32
        """
        if (
            mask is not None
            or not self.cache_size
            or x.shape[0] == 0
            or torch.compiler.is_compiling()
        ):
            return self._encode(x, mask)
        n, _, h, w = x.shape
        # inference tensors must not leak into autograd-recording code, hence the mode in the key
        key = (h, w, x.device, torch.is_inference_mode_enabled())
        pos = self._cache.get(key)
        if pos is None:
            with torch.no_grad():
                pos = self._encode(x[:1], None)
            self._cache[key] = pos
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return pos.expand(n, -1, -1, -1)

    def _encode(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        n, _, h, w = x.shape
        if mask is None:
            valid = torch.ones((n, h, w), device=x.device, dtype=torch.float32)
        else:
            valid = (~mask).to(torch.float32)
        y_embed = valid.cumsum(1)
        x_embed = valid.cumsum(2)
        if self.normalize:
            y_embed = self._normalized(y_embed, y_embed[:, -1:, :])
            x_embed = self._normalized(x_embed, x_embed[:, :, -1:])

        pos_x = sine_channels(x_embed, self.num_pos_feats, self.temperature)
        pos_y = sine_channels(y_embed, self.num_pos_feats, self.temperature)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)

    def _normalized(self, positions: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """``positions`` (1-based) scaled so that ``last``, the last position, maps to ``scale``."""
        return positions / (last + 1e-6) * self.scale

    def extra_repr(self) -> str:
        return (
            f"num_pos_feats={self.num_pos_feats}, temperature={self.temperature}, "
            f"normalize={self.normalize}, scale={self.scale}"
        )


class PositionEmbeddingSine3D(PositionEmbeddingSine):
    """The position encoding of video clips (Mask2Former's video decoder): each token of frame
    t at (y, x) gets the 2-D encoding of (y, x) (:class:`PositionEmbeddingSine`, ``2 *
    num_pos_feats`` channels) plus a sine encoding of t over all ``2 * num_pos_feats`` channels,
    whose frequencies follow the same rule for that channel count. With ``normalize``, t runs
    over (0, ``scale``] across the clip, like y and x across the frame. Takes the arguments of
    :class:`PositionEmbeddingSine`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: (N, T, C, H, W) features of clips of T frames; only its shape and device are used.
        Returns:
            (N, T, 2 * num_pos_feats, H, W) float32
        """
        if x.dim() != 5:
            raise ValueError(f"PositionEmbeddingSine3D takes (N, T, C, H, W), got {tuple(x.shape)}")
        spatial = super().forward(x[:, 0])  # (N, 2F, H, W)
        num_frames = x.shape[1]
        t_embed = torch.arange(1, num_frames + 1, dtype=torch.float32, device=x.device)
        if self.normalize:
            t_embed = self._normalized(t_embed, t_embed[-1:])
        temporal = sine_channels(t_embed, spatial.shape[1], self.temperature)  # (T, 2F)
        return spatial[:, None] + temporal[None, :, :, None, None]
