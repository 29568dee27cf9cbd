"""Mask2Former's pixel decoder: a multi-scale deformable-attention encoder over 1/8, 1/16,
1/32, then FPN-style lateral upsampling to 1/4 for the mask features."""

import math
from typing import Dict, List, Optional

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn
from torch.nn import functional as F

from ...layers import MSDeformAttn
from ...layers.feature_levels import by_stride
from ...layers.mlp import feed_forward
from ...layers.position_encoding import PositionEmbeddingSine
from ...layers.token_linear import TokenLinear
from ...layers.tokens import flatten_maps, map_tokens, unflatten_maps
from ...layers.transformer import xavier_init_matrices
from .fpn_layers import add_fpn_convs, fpn_config, fpn_top_down


class MSDeformAttnEncoderLayer(nn.Module):
    """Deformable self-attention over all levels + feed-forward, post-LayerNorm
    (``self_attn``, ``norm1``, ``linear1``, ``linear2``, ``norm2``)."""

    def __init__(
        self, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int, n_points: int
    ):
        """``d_ffn``: feed-forward width; ``n_levels``, ``n_heads``, ``n_points``: those of
        :class:`MSDeformAttn` (the pixel decoder passes every setting from the config)."""
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = TokenLinear(d_model, d_ffn)
        self.linear2 = TokenLinear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src, pos, reference_points, spatial_shapes, level_start_index):
        """
        Args:
            src, pos: (N, S, C) all levels' tokens; reference_points: (N, S, L, 2) in [0, 1];
            spatial_shapes: (L, 2) int64; level_start_index: (L,) int64.
        Returns:
            (N, S, C)
        """
        attended = self.self_attn(
            src + pos, reference_points, src, spatial_shapes, level_start_index
        )
        src = self.norm1(src + self.dropout(attended))
        # ReLU in place: the hidden activations are the encoder's largest tensors
        ffn = feed_forward(src, (self.linear1, self.linear2), F.relu_, self.dropout)
        return self.norm2(src + ffn)


class MSDeformAttnEncoder(nn.Module):
    """A stack of deformable encoder layers (``layers.N``)."""

    def __init__(self, num_layers: int, **layer_kwargs):
        super().__init__()
        self.layers = nn.ModuleList(
            MSDeformAttnEncoderLayer(**layer_kwargs) for _ in range(num_layers)
        )

    @staticmethod
    def reference_points(spatial_shapes: List[List[int]], n: int, device) -> torch.Tensor:
        """Every token's pixel centre, normalized to [0, 1] as (x, y), repeated for every level:
        (n, S, L, 2). (Images are not padded inside the encoder, so every level is all valid.)"""
        points = []
        for h, w in spatial_shapes:
            ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
            xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
            points.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1))
        points = torch.cat(points, dim=0)
        return points[None, :, None, :].expand(n, -1, len(spatial_shapes), -1)

    def forward(self, src, pos, spatial_shapes, level_start_index, level_sizes):
        """``level_sizes``: the (H_l, W_l) of ``spatial_shapes`` as ints, taken from the feature
        shapes rather than read back from the tensor (no device sync, and traceable by
        torch.export with dynamic input sizes)."""
        reference_points = self.reference_points(level_sizes, src.shape[0], src.device)
        for layer in self.layers:
            src = layer(src, pos, reference_points, spatial_shapes, level_start_index)
        return src


class MSDeformAttnTransformerEncoderOnly(nn.Module):
    """Flattens the levels, adds sine positions plus a learned per-level embedding
    (``level_embed``), and runs ``num_layers`` deformable encoder layers (``encoder``)."""

    def __init__(self, num_layers: int, d_model: int = 256, n_levels: int = 3, **layer_kwargs):
        """``d_model``, ``n_levels`` and ``layer_kwargs``: see :class:`MSDeformAttnEncoderLayer`."""
        super().__init__()
        self.encoder = MSDeformAttnEncoder(
            num_layers, d_model=d_model, n_levels=n_levels, **layer_kwargs
        )
        self.level_embed = nn.Parameter(torch.empty(n_levels, d_model))
        xavier_init_matrices(self)
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m._reset_parameters()
        nn.init.normal_(self.level_embed)

    def forward(
        self, srcs: List[torch.Tensor], pos_embeds: List[torch.Tensor]
    ) -> List[torch.Tensor]:
        """
        Args:
            srcs, pos_embeds: per level (N, C, H_l, W_l).
        Returns:
            the encoded levels, (N, C, H_l, W_l) each.
        """
        tokens = flatten_maps(srcs)
        pos = torch.cat(
            [map_tokens(p) + self.level_embed[lvl] for lvl, p in enumerate(pos_embeds)],
            dim=1,
        )
        level_sizes = [tuple(s.shape[-2:]) for s in srcs]
        # torch.tensor, unlike torch.as_tensor, keeps symbolic sizes symbolic under torch.export
        spatial_shapes = torch.tensor(level_sizes, dtype=torch.long, device=tokens.device)
        areas = spatial_shapes.prod(1)
        level_start_index = torch.cat((areas.new_zeros(1), areas.cumsum(0)[:-1]))
        memory = self.encoder(tokens, pos, spatial_shapes, level_start_index, level_sizes)
        return unflatten_maps(memory, level_sizes)


@SEM_SEG_HEADS_REGISTRY.register()
class MSDeformAttnPixelDecoder(nn.Module):
    """The levels in ``transformer_in_features`` (res3-res5) are projected to ``conv_dim``
    (``input_proj.{i}``: 1x1 conv + GroupNorm(32), coarsest first) and encoded jointly by
    ``transformer_enc_layers`` deformable-attention layers. The finer backbone levels (res2)
    are then merged FPN-style (``adapter_{i}`` lateral 1x1, bilinear upsampling, ``layer_{i}``
    3x3) down to ``common_stride``, and ``mask_features`` (1x1 conv) gives the per-pixel
    embeddings."""

    maskformer_num_feature_levels = 3

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        transformer_in_features: List[str],
        conv_dim: int,
        transformer_enc_layers: int,
        transformer_nheads: int,
        transformer_dim_feedforward: int,
        transformer_dropout: float,
        transformer_n_points: int = 4,
        common_stride: int,
        norm: Optional[str] = None,
        mask_dim: int,
    ):
        """
        Args (in the order the features meet them):
            input_shape: the backbone features used, name -> ShapeSpec.
            transformer_in_features: backbone features the encoder attends over.
            conv_dim: channels of the encoder and FPN levels.
            transformer_enc_layers, transformer_nheads, transformer_dim_feedforward,
            transformer_dropout, transformer_n_points: the deformable encoder's layers,
                heads, feed-forward width, dropout and sampling points per head and level.
            common_stride: stride of the mask features (4).
            norm: normalization of the FPN convs.
            mask_dim: channels of the mask features.
        """
        super().__init__()
        ordered = by_stride(input_shape)
        self.in_features = [name for name, _ in ordered]  # finest first
        missing = [f for f in transformer_in_features if f not in input_shape]
        if missing:
            raise ValueError(
                "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES "
                f"{list(transformer_in_features)} names {missing}, which are not in "
                f"MODEL.SEM_SEG_HEAD.IN_FEATURES {self.in_features}"
            )
        encoder_levels = [(n, s) for n, s in ordered if n in transformer_in_features]
        self.transformer_in_features = [n for n, _ in encoder_levels]  # finest first
        self.transformer_num_feature_levels = len(encoder_levels)

        self.input_proj = nn.ModuleList()
        for _, shape in encoder_levels[::-1]:
            proj = nn.Sequential(
                nn.Conv2d(shape.channels, conv_dim, kernel_size=1), nn.GroupNorm(32, conv_dim)
            )
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
            self.input_proj.append(proj)

        self.transformer = MSDeformAttnTransformerEncoderOnly(
            transformer_enc_layers,
            d_model=conv_dim,
            d_ffn=transformer_dim_feedforward,
            dropout=transformer_dropout,
            n_levels=self.transformer_num_feature_levels,
            n_heads=transformer_nheads,
            n_points=transformer_n_points,
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)

        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        weight_init.c2_xavier_fill(self.mask_features)

        # FPN levels finer than the encoder's finest, down to common_stride
        finest_encoder_stride = encoder_levels[0][1].stride
        self.common_stride = common_stride
        self.num_fpn_levels = int(math.log2(finest_encoder_stride) - math.log2(common_stride))
        self.lateral_convs, self.output_convs = add_fpn_convs(
            self, [shape.channels for _, shape in ordered[: self.num_fpn_levels]], conv_dim, norm
        )

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            **fpn_config(cfg, input_shape),
            "transformer_dropout": cfg.MODEL.MASK_FORMER.DROPOUT,
            "transformer_nheads": head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS,
            "transformer_n_points": head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS,
            # the published model uses 1024, not MASK_FORMER.DIM_FEEDFORWARD, in this encoder
            "transformer_dim_feedforward": 1024,
            "transformer_enc_layers": head.TRANSFORMER_ENC_LAYERS,
            "transformer_in_features": head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES,
            "common_stride": head.COMMON_STRIDE,
        }

    def forward_features(self, features: Dict[str, torch.Tensor]):
        """
        Args:
            features: backbone features by name, (N, C_l, H_l, W_l).
        Returns:
            mask_features: (N, mask_dim, H/common_stride, W/common_stride);
            transformer_encoder_features: (N, conv_dim, H/32, W/32), the encoded coarsest level;
            multi_scale_features: three maps (N, conv_dim, h, w), coarsest (1/32) first.
        """
        # Under autocast the convolutions and linear layers run in the autocast dtype, while
        # the sampling locations and attention weights of the deformable attention stay in
        # float32 (MSDeformAttn), as do the normalizations. (The published code runs this whole
        # module in float32, which leaves half of the model's time outside autocast.)
        srcs, pos = [], []
        for proj, name in zip(self.input_proj, self.transformer_in_features[::-1]):
            x = features[name]
            srcs.append(proj(x))
            pos.append(self.pe_layer(x))
        out = self.transformer(srcs, pos)
        out += fpn_top_down(
            out[-1],
            [features[name] for name in self.in_features[: self.num_fpn_levels][::-1]],
            self.lateral_convs,
            self.output_convs,
            mode="bilinear",
        )
        multi_scale_features = out[: self.maskformer_num_feature_levels]
        return self.mask_features(out[-1]), out[0], multi_scale_features

    def forward(self, features):
        return self.forward_features(features)
