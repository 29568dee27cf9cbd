#!/usr/bin/env python
r"""Convert ImageNet Swin Transformer weights into a Detectron2 .pkl for D2SwinTransformer.

    python tools/convert-pretrained-swin-model-to-d2.py \
        swin_tiny_patch4_window7_224.pth swin_tiny_patch4_window7_224.pkl

Accepted layouts (detected from the names, or forced with --layout):
- "official": the Swin Transformer release ({"model": ...}; patch merging of stage i stored as
  layers.{i}.downsample, classifier "head.*", final "norm.*", "attn_mask" buffers);
- "timm": pytorch-image-models (patch merging of stage i stored at the start of stage i + 1 as
  layers.{i+1}.downsample, classifier "head.fc.*", no relative_position_index buffers);
  .safetensors files from the Hugging Face hub are read too.

The classifier, the final norm and the attention-mask buffers are dropped. The per-stage
output norms norm0..norm3 of D2SwinTransformer have no counterpart in classification weights:
they are written as identity LayerNorms (weight 1, bias 0), the values the model initializes
them with, so the file loads with no missing keys.
"""

import math
import re

import torch

from mask2former.checkpoint import read_checkpoint
from mask2former.commands import weights_to_d2
from mask2former.modeling.backbone.window_attention import relative_position_index

_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.")


def detect_layout(state_dict) -> str:
    """ "official" if stage 0 owns a patch merging, "timm" if only later stages do."""
    stages = {int(m.group(1)) for m in map(_DOWNSAMPLE.match, state_dict) if m}
    if not stages:
        raise ValueError("no 'layers.N.downsample.*' entries: not a Swin Transformer checkpoint")
    return "official" if 0 in stages else "timm"


def convert(state_dict, layout: str = "auto"):
    """Swin ImageNet state_dict -> {D2SwinTransformer name (without "backbone."): tensor}."""
    if layout == "auto":
        layout = detect_layout(state_dict)
    if layout not in ("official", "timm"):
        raise ValueError(f"unknown Swin checkpoint layout {layout!r}")
    converted = {}
    for name, value in state_dict.items():
        if name.startswith("head.") or name.startswith("norm.") or name.endswith("attn_mask"):
            continue
        if layout == "timm":
            name = _DOWNSAMPLE.sub(lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", name)
        if name == "absolute_pos_embed" and value.dim() == 3:  # (1, L, C) -> (1, C, h, w)
            side = math.isqrt(value.shape[1])
            value = value.transpose(1, 2).reshape(1, value.shape[2], side, side)
        converted[name] = value

    for name, table in list(converted.items()):
        if name.endswith("attn.relative_position_bias_table"):
            index_name = name.replace("relative_position_bias_table", "relative_position_index")
            window = (math.isqrt(table.shape[0]) + 1) // 2
            converted.setdefault(index_name, relative_position_index(window))
    stage = 0
    while f"layers.{stage}.blocks.0.norm1.weight" in converted:
        width = converted[f"layers.{stage}.blocks.0.norm1.weight"].shape[0]
        converted.setdefault(f"norm{stage}.weight", torch.ones(width))
        converted.setdefault(f"norm{stage}.bias", torch.zeros(width))
        stage += 1
    return converted


def main(argv=None):
    parser = weights_to_d2.parser(__doc__, "Swin ImageNet weights (.pth, .pkl or .safetensors)")
    parser.add_argument("--layout", choices=["auto", "official", "timm"], default="auto")
    args = parser.parse_args(argv)
    state_dict = read_checkpoint(args.input)["model"]
    layout = detect_layout(state_dict) if args.layout == "auto" else args.layout
    author = "Swin Transformer ImageNet weights"
    weights_to_d2.write(convert(state_dict, layout), args.output, author, f" ({layout} layout)")


if __name__ == "__main__":
    main()
