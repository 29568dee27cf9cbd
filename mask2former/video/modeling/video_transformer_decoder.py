"""Mask2Former's video transformer decoder: the image decoder's layers and parameters, with the
queries attending to the tokens of every frame of a clip and predicting one mask per frame."""

from typing import Dict, List, Tuple

import torch
from detectron2.config import configurable

from ...layers.position_encoding import PositionEmbeddingSine3D
from ...layers.tokens import map_tokens
from ...modeling.transformer_decoder import TRANSFORMER_DECODER_REGISTRY
from ...modeling.transformer_decoder.mask2former_transformer_decoder import (
    MultiScaleMaskedTransformerDecoder,
)

__all__ = ["VideoMultiScaleMaskedTransformerDecoder"]


@TRANSFORMER_DECODER_REGISTRY.register()
class VideoMultiScaleMaskedTransformerDecoder(MultiScaleMaskedTransformerDecoder):
    """:class:`MultiScaleMaskedTransformerDecoder` over video clips. The frames of a clip arrive
    as consecutive images of the batch; at each feature level the queries cross-attend to the
    tokens of all its frames (time-major), encoded with a 3-D sine position encoding over
    (t, y, x), and masked by their own predicted masks in every frame. Each query predicts one
    class for the clip and a mask per frame. Same parameters (and state_dict) as the image
    decoder.

    How the batch splits into clips: in training, into clips of ``num_frames`` frames (the
    dataset mapper's INPUT.SAMPLING_FRAME_NUM); at inference the whole batch is one clip, of
    any length (as published).
    """

    @configurable
    def __init__(
        self, in_channels: int, mask_classification: bool = True, *, num_frames: int, **kwargs
    ):
        """
        Args:
            num_frames: frames per clip in training.
            others: as :class:`MultiScaleMaskedTransformerDecoder`.
        """
        super().__init__(in_channels, mask_classification, **kwargs)
        if num_frames < 1:
            raise ValueError(f"INPUT.SAMPLING_FRAME_NUM must be >= 1, got {num_frames}")
        self.num_frames = num_frames
        self.pe_layer = PositionEmbeddingSine3D(kwargs["hidden_dim"] // 2, normalize=True)

    @classmethod
    def from_config(cls, cfg, in_channels, mask_classification):
        ret = super().from_config(cfg, in_channels, mask_classification)
        ret["num_frames"] = cfg.INPUT.SAMPLING_FRAME_NUM
        return ret

    def clip_split(self, batch_frames: int) -> Tuple[int, int]:
        """(number of clips, frames per clip) of a batch of ``batch_frames`` frames."""
        if not self.training:
            return 1, batch_frames
        if batch_frames % self.num_frames:
            raise ValueError(
                f"{type(self).__name__}: a training batch of {batch_frames} frames is not made "
                f"of clips of INPUT.SAMPLING_FRAME_NUM={self.num_frames} frames"
            )
        return batch_frames // self.num_frames, self.num_frames

    def _flatten_clip_levels(
        self, x: List[torch.Tensor], n: int, t: int
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[Tuple[int, int]]]:
        """Per level: (N, T*h*w, C) tokens of each clip's frames (time-major), their 3-D
        position encodings, and (h, w)."""
        src, pos, sizes = [], [], []
        for i, feature in enumerate(x):
            h, w = feature.shape[-2:]
            sizes.append((h, w))
            encoding = self.pe_layer(feature.view(n, t, -1, h, w))  # (N, T, C, h, w)
            pos.append(
                encoding.flatten(3).transpose(2, 3).reshape(n, t * h * w, -1).to(feature.dtype)
            )
            level = map_tokens(self.input_proj[i](feature))  # (N*T, h*w, C)
            src.append(level.reshape(n, t * h * w, -1) + self.level_embed.weight[i])
        return src, pos, sizes

    def forward(self, x: List[torch.Tensor], mask_features: torch.Tensor) -> Dict:
        """
        Args:
            x: three feature maps (N*T, in_channels, h_l, w_l) of N clips of T frames (frames of
                a clip consecutive), lowest resolution first.
            mask_features: (N*T, mask_dim, H, W) per-pixel embeddings.
        Returns:
            {"pred_logits": (N, Q, K+1), "pred_masks": (N, Q, T, H, W) logits,
             "pred_embeds": (N, Q, C) the queries' final (normalized) embeddings,
             "aux_outputs": the earlier predictions ("pred_logits", "pred_masks") in training
             with deep supervision, else empty}
        """
        self._check_levels(x)
        n, t = self.clip_split(mask_features.shape[0])
        src, pos, sizes = self._flatten_clip_levels(x, n, t)
        clip_features = mask_features.view(n, t, *mask_features.shape[1:])
        out, queries = self._decode(src, pos, sizes, clip_features)
        out["pred_embeds"] = self.decoder_norm(queries)
        return out
