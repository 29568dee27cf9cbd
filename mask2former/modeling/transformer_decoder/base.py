"""What the transformer decoders share: their settings from the config, the projection of
their input features to the transformer width, and the predictions of deep supervision."""

from typing import Dict, List

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.layers import Conv2d
from torch import nn


def decoder_config(cfg, in_channels: int, mask_classification: bool) -> Dict:
    """The constructor arguments every transformer decoder reads the same way from
    MODEL.MASK_FORMER and MODEL.SEM_SEG_HEAD (a decoder adds its own, such as its layers)."""
    mf = cfg.MODEL.MASK_FORMER
    return {
        "in_channels": in_channels,
        "mask_classification": mask_classification,
        "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        "hidden_dim": mf.HIDDEN_DIM,
        "num_queries": mf.NUM_OBJECT_QUERIES,
        "nheads": mf.NHEADS,
        "dim_feedforward": mf.DIM_FEEDFORWARD,
        "pre_norm": mf.PRE_NORM,
        "deep_supervision": mf.DEEP_SUPERVISION,
        "mask_dim": cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
        "enforce_input_project": mf.ENFORCE_INPUT_PROJ,
    }


def input_projection(in_channels: int, hidden_dim: int, enforce: bool) -> nn.Module:
    """A Xavier-initialized 1x1 conv from ``in_channels`` to ``hidden_dim``, or the identity
    when they are equal and the projection is not ``enforce``d."""
    if in_channels == hidden_dim and not enforce:
        return nn.Identity()
    proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
    weight_init.c2_xavier_fill(proj)
    return proj


def aux_outputs_of(class_logits, mask_logits) -> List[Dict[str, torch.Tensor]]:
    """Per-layer predictions for deep supervision: all but the last layer.

    ``class_logits`` may be None (per-pixel baseline+, which has no classifier)."""
    if class_logits is None:
        return [{"pred_masks": m} for m in mask_logits[:-1]]
    return [
        {"pred_logits": c, "pred_masks": m} for c, m in zip(class_logits[:-1], mask_logits[:-1])
    ]
