"""Swin Transformer backbone ("Swin Transformer: Hierarchical Vision Transformer using Shifted
Windows", Liu et al. 2021) for Detectron2, registered as ``D2SwinTransformer``.

Module and parameter names follow the Swin release used by MaskFormer / Mask2Former
(``patch_embed``, ``layers.{i}.blocks.{j}``, ``layers.{i}.downsample``, ``norm{i}``), so their
converted ImageNet weights and trained checkpoints load unchanged. Internally every feature
map is channels-last, ``(B, H, W, C)``.
"""

from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from detectron2.config import configurable
from detectron2.modeling import BACKBONE_REGISTRY, Backbone, ShapeSpec
from torch import nn
from torchvision.ops import StochasticDepth

from ...layers.mlp import feed_forward
from ...layers.padding import pad_to_multiple
from .window_attention import WindowAttention, WindowLayout


class Mlp(nn.Module):
    """Two-layer feed-forward network with GELU (names ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return feed_forward(x, (self.fc1, self.fc2), self.act, self.drop)


class BlockSettings(NamedTuple):
    """What every block of a Swin Transformer shares: the MLP's width (``mlp_ratio`` * dim),
    the attention's qkv bias and scale (None: head_dim ** -0.5), the dropout of the attention
    projection and MLP outputs (``drop``) and of the attention weights (``attn_drop``)."""

    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    qk_scale: Optional[float] = None
    drop: float = 0.0
    attn_drop: float = 0.0


class SwinBlock(nn.Module):
    """Pre-norm transformer block with (shifted) window attention and stochastic depth."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int = 0,
        drop_path: float = 0.0,
        settings: Optional[BlockSettings] = None,
    ):
        """``settings``: None for the defaults of :class:`BlockSettings`."""
        super().__init__()
        settings = BlockSettings() if settings is None else settings
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift size {shift_size} must be in [0, window size {window_size})")
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(
            dim,
            num_heads,
            window_size,
            settings.qkv_bias,
            settings.qk_scale,
            attn_drop=settings.attn_drop,
            proj_drop=settings.drop,
        )
        # identity in eval mode; drops the residual branch of whole samples in training
        self.drop_path = StochasticDepth(drop_path, mode="row")
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * settings.mlp_ratio), settings.drop)

    def forward(self, x: torch.Tensor, layout: WindowLayout) -> torch.Tensor:
        """
        Args:
            x: (B, H, W, C).
            layout: the windows of an H x W map, shifted by ``shift_size`` (see
                :class:`WindowLayout`).
        Returns:
            (B, H, W, C)
        """
        B, H, W, C = x.shape
        # padding tokens (zeros after the norm) take part in attention, as in the published model
        windows = layout.partition(self.norm1(x).view(B, H * W, C))
        y = layout.reverse(self.attn(windows, layout.mask)).view(B, H, W, C)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Halves the resolution: concatenates each 2x2 neighbourhood (in the published order
    (0,0), (1,0), (0,1), (1,1) as (row, column) offsets), normalizes and projects 4C -> 2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C); odd sides are zero-padded."""
        x = pad_to_multiple(x, 2, channels_last=True)
        B, H, W, C = x.shape
        x = x.view(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5)
        return self.reduction(self.norm(x.reshape(B, H // 2, W // 2, 4 * C)))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection (a strided conv), optionally layer-normalized."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, norm: bool = True):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, ceil(H/p), ceil(W/p), embed_dim); sides are zero-padded."""
        x = self.proj(pad_to_multiple(x, self.patch_size)).permute(0, 2, 3, 1)
        return self.norm(x) if self.norm is not None else x


class SwinStage(nn.Module):
    """Blocks alternating regular and shifted windows, then optional patch merging."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        drop_path: Sequence[float],
        downsample: bool,
        settings: BlockSettings,
        use_checkpoint: bool = False,
    ):
        super().__init__()
        self.window_size = window_size
        self.shift_size = window_size // 2
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else self.shift_size,
                drop_path=drop_path[i],
                settings=settings,
            )
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor):
        """(B, H, W, C) -> (stage output (B, H, W, C), input of the next stage or None)."""
        H, W = x.shape[1:3]
        layouts = [
            WindowLayout.build(H, W, self.window_size, shift, device=x.device)
            for shift in (0, self.shift_size)
        ]
        for block in self.blocks:
            layout = layouts[1] if block.shift_size else layouts[0]
            if self.use_checkpoint and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, layout, use_reentrant=False)
            else:
                x = block(x, layout)
        return x, (self.downsample(x) if self.downsample is not None else None)


@BACKBONE_REGISTRY.register()
class D2SwinTransformer(Backbone):
    """Swin Transformer with outputs res2..res5 (strides 4, 8, 16, 32), each passed through its
    own LayerNorm ``norm{i}``. Inputs of any size are padded internally; the outputs cover the
    padded input (ceil(H / stride) x ceil(W / stride))."""

    @configurable
    def __init__(
        self,
        *,
        in_chans: int = 3,
        pretrain_img_size: int = 224,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale=None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        ape: bool = False,
        patch_norm: bool = True,
        out_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
        use_checkpoint: bool = False,
    ):
        """
        Args:
            pretrain_img_size: image size of the pretraining, which sets the grid of the
                absolute position embedding (``ape``).
            depths, num_heads: blocks and attention heads of each stage.
            drop_path_rate: stochastic depth of the last block; it grows linearly from 0
                over all blocks.
            ape: add a learned absolute position embedding (interpolated to the input size).
            out_features: subset of res2..res5 to return.
            use_checkpoint: recompute blocks in the backward pass to save memory.
            Others: as in the Swin Transformer paper / release.
        """
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(
                f"MODEL.SWIN.DEPTHS {depths} and NUM_HEADS {num_heads} differ in length"
            )
        num_stages = len(depths)
        names = [f"res{i + 2}" for i in range(num_stages)]
        unknown = set(out_features) - set(names)
        if unknown:
            raise ValueError(
                f"MODEL.SWIN.OUT_FEATURES {list(out_features)}: {sorted(unknown)} not in {names}"
            )
        self.num_features = [embed_dim * 2**i for i in range(num_stages)]
        self._out_features = list(out_features)
        self._out_feature_channels = dict(zip(names, self.num_features))
        self._out_feature_strides = {n: patch_size * 2**i for i, n in enumerate(names)}

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, norm=patch_norm)
        self.ape = ape
        if ape:
            grid = pretrain_img_size // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, grid, grid))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)

        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        settings = BlockSettings(mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate)
        self.layers = nn.ModuleList()
        for i in range(num_stages):
            start = sum(depths[:i])
            self.layers.append(
                SwinStage(
                    self.num_features[i],
                    depths[i],
                    num_heads[i],
                    window_size,
                    drop_path=rates[start : start + depths[i]],
                    downsample=i < num_stages - 1,
                    use_checkpoint=use_checkpoint,
                    settings=settings,
                )
            )
        # the release has a norm for every stage, also for stages that are not returned
        for i, channels in enumerate(self.num_features):
            self.add_module(f"norm{i}", nn.LayerNorm(channels))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        swin = cfg.MODEL.SWIN
        return {
            "in_chans": input_shape.channels,
            "pretrain_img_size": swin.PRETRAIN_IMG_SIZE,
            "patch_size": swin.PATCH_SIZE,
            "embed_dim": swin.EMBED_DIM,
            "depths": list(swin.DEPTHS),
            "num_heads": list(swin.NUM_HEADS),
            "window_size": swin.WINDOW_SIZE,
            "mlp_ratio": swin.MLP_RATIO,
            "qkv_bias": swin.QKV_BIAS,
            "qk_scale": swin.QK_SCALE,
            "drop_rate": swin.DROP_RATE,
            "attn_drop_rate": swin.ATTN_DROP_RATE,
            "drop_path_rate": swin.DROP_PATH_RATE,
            "ape": swin.APE,
            "patch_norm": swin.PATCH_NORM,
            "out_features": list(swin.OUT_FEATURES),
            "use_checkpoint": swin.USE_CHECKPOINT,
        }

    def forward(self, x: torch.Tensor):
        """
        Args:
            x: (B, C, H, W) images, any H and W.
        Returns:
            dict of the requested "res{k}" features, each (B, C_k, ceil(H / s_k), ceil(W / s_k)).
        """
        if x.dim() != 4:
            raise ValueError(
                f"D2SwinTransformer takes (B, C, H, W) inputs, got shape {tuple(x.shape)}"
            )
        x = self.patch_embed(x)
        if self.ape:
            pos = F.interpolate(self.absolute_pos_embed, size=x.shape[1:3], mode="bicubic")
            x = x + pos.permute(0, 2, 3, 1)
        x = self.pos_drop(x)
        outputs = {}
        for i, stage in enumerate(self.layers):
            out, x = stage(x)
            name = f"res{i + 2}"
            if name in self._out_features:
                outputs[name] = getattr(self, f"norm{i}")(out).permute(0, 3, 1, 2).contiguous()
        return outputs

    def output_shape(self):
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }

    @property
    def size_divisibility(self) -> int:
        return 32
