"""ResNet backbones: transformers' ``ResNetConfig`` / ``ResNetBackbone`` against
``MODEL.RESNETS`` and Detectron2's ``build_resnet_backbone``.

Both are the same network: a 7x7 stem with max pooling, four stages of basic (R18/R34) or
bottleneck blocks (R50/R101/R152), a projection shortcut where the width changes, BatchNorm
with eps 1e-5 evaluated with its running statistics. transformers' ``downsample_in_bottleneck``
is Detectron2's ``STRIDE_IN_1X1``. Not representable in transformers: the DeepLab variant
("R101c": deep stem, dilated multi-grid res5), grouped convolutions (ResNeXt), deformable
convolutions.

Normalization: the published configs freeze BatchNorm (``FrozenBN``), which keeps no step
counter; transformers' BatchNorm2d keeps ``num_batches_tracked``. Converting to ``FrozenBN``
carries the counters aside (see :mod:`.tensor_plan`); ``BN`` / ``SyncBN`` hold them.
"""

from typing import Tuple

import torch

from .errors import ConversionError
from .fields import Fields, stage_features
from .tensor_plan import TransformersOnly, copies

__all__ = ["RESNET_DEFAULTS", "resnet_to_cfg", "resnet_from_cfg", "resnet_rules"]

RESNET_DEFAULTS = {
    "num_channels": 3,
    "embedding_size": 64,
    "hidden_sizes": [256, 512, 1024, 2048],
    "depths": [3, 4, 6, 3],
    "layer_type": "bottleneck",
    "hidden_act": "relu",
    "downsample_in_first_stage": False,
    "downsample_in_bottleneck": False,
}
# Detectron2's MODEL.RESNETS.DEPTH -> (blocks per stage, block type)
_DEPTHS = {
    18: ([2, 2, 2, 2], "basic"),
    34: ([3, 4, 6, 3], "basic"),
    50: ([3, 4, 6, 3], "bottleneck"),
    101: ([3, 4, 23, 3], "bottleneck"),
    152: ([3, 8, 36, 3], "bottleneck"),
}
_NORMS_WITH_COUNTERS = ("BN", "SyncBN", "nnSyncBN", "naiveSyncBN")
_BN_STATS = ("weight", "bias", "running_mean", "running_var")


def resnet_to_cfg(backbone: Fields, cfg, norm: str = "FrozenBN") -> None:
    """Sets MODEL.BACKBONE.NAME and MODEL.RESNETS from a transformers ResNet config."""
    backbone.expect("hidden_act", ["relu"], "Detectron2's ResNet uses ReLU")
    backbone.expect("num_channels", [3], "the models take RGB images")
    backbone.expect(
        "downsample_in_first_stage", [False], "Detectron2's res2 keeps the stem's resolution"
    )
    blocks, kind = [int(d) for d in backbone["depths"]], backbone["layer_type"]
    depth = next((d for d, spec in _DEPTHS.items() if spec == (blocks, kind)), None)
    if depth is None:
        known = ", ".join(f"R{d}: {b} {k}" for d, (b, k) in _DEPTHS.items())
        raise ConversionError(
            f"{backbone.where}: depths {blocks} with {kind!r} blocks is not a ResNet that "
            f"Detectron2 builds ({known})"
        )
    stage_features(backbone, len(blocks))
    widths = [int(w) for w in backbone["hidden_sizes"]]
    if widths != [widths[0] * 2**i for i in range(len(widths))]:
        raise ConversionError(
            f"{backbone.where}: hidden_sizes {widths}; Detectron2's ResNet doubles the width "
            "at every stage"
        )
    if kind == "basic" and widths[0] != 64:
        raise ConversionError(
            f"{backbone.where}: hidden_sizes[0] = {widths[0]}; Detectron2 builds R18/R34 with "
            "64 channels in res2 only"
        )
    res = cfg.MODEL.RESNETS
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    res.DEPTH = depth
    res.STEM_OUT_CHANNELS = int(backbone["embedding_size"])
    res.RES2_OUT_CHANNELS = widths[0]
    res.NUM_GROUPS = 1
    res.WIDTH_PER_GROUP = widths[0] // 4 if kind == "bottleneck" else 64
    res.STRIDE_IN_1X1 = bool(backbone["downsample_in_bottleneck"])
    res.NORM = norm
    res.RES5_DILATION = 1
    res.DEFORM_ON_PER_STAGE = [False] * 4
    res.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    res.STEM_TYPE = "basic"
    res.RES5_MULTI_GRID = [1, 1, 1]


def resnet_from_cfg(cfg) -> dict:
    """The transformers backbone_config of MODEL.RESNETS."""
    res = cfg.MODEL.RESNETS
    name = cfg.MODEL.BACKBONE.NAME

    def unsupported(what: str):
        raise ConversionError(f"MODEL.RESNETS: {what}; transformers' ResNet has no equivalent")

    if name != "build_resnet_backbone":
        unsupported(f"MODEL.BACKBONE.NAME {name!r} (the DeepLab stem / multi-grid res5)")
    if res.DEPTH not in _DEPTHS:
        unsupported(f"DEPTH {res.DEPTH}")
    blocks, kind = _DEPTHS[res.DEPTH]
    if res.NUM_GROUPS != 1:
        unsupported(f"NUM_GROUPS {res.NUM_GROUPS} (grouped convolutions)")
    if kind == "bottleneck" and res.WIDTH_PER_GROUP * 4 != res.RES2_OUT_CHANNELS:
        unsupported(
            f"bottleneck width {res.WIDTH_PER_GROUP} with RES2_OUT_CHANNELS "
            f"{res.RES2_OUT_CHANNELS} (transformers' bottleneck is a quarter of the width)"
        )
    if res.RES5_DILATION != 1 or any(res.DEFORM_ON_PER_STAGE):
        unsupported("dilated or deformable res5")
    if res.NORM not in ("FrozenBN",) + _NORMS_WITH_COUNTERS:
        unsupported(f"NORM {res.NORM!r}")
    if list(res.OUT_FEATURES) != ["res2", "res3", "res4", "res5"]:
        unsupported(f"OUT_FEATURES {list(res.OUT_FEATURES)} (the converter needs all four)")
    return {
        "model_type": "resnet",
        "num_channels": 3,
        "embedding_size": res.STEM_OUT_CHANNELS,
        "hidden_sizes": [res.RES2_OUT_CHANNELS * 2**i for i in range(4)],
        "depths": list(blocks),
        "layer_type": kind,
        "hidden_act": "relu",
        "downsample_in_first_stage": False,
        "downsample_in_bottleneck": bool(res.STRIDE_IN_1X1),
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
        "out_indices": [1, 2, 3, 4],
    }


def resnet_rules(cfg, prefix: str) -> Tuple[list, list]:
    """Rules between ``backbone.*`` and a transformers ResNet backbone under ``prefix``."""
    res = cfg.MODEL.RESNETS
    blocks, kind = _DEPTHS[res.DEPTH]
    counters = res.NORM in _NORMS_WITH_COUNTERS
    rules, unused = [], []

    def conv_bn(ours: str, theirs: str):
        rules.extend(copies(ours, f"{theirs}.convolution", ("weight",)))
        rules.extend(copies(f"{ours}.norm", f"{theirs}.normalization", _BN_STATS))
        counter = "num_batches_tracked"
        if counters:
            rules.extend(copies(f"{ours}.norm", f"{theirs}.normalization", (counter,)))
        else:
            unused.append(
                TransformersOnly(f"{theirs}.normalization.{counter}", lambda: torch.tensor(0))
            )

    conv_bn("backbone.stem.conv1", prefix + "embedder.embedder")
    in_channels = res.STEM_OUT_CHANNELS
    for stage, num_blocks in enumerate(blocks):
        out_channels = res.RES2_OUT_CHANNELS * 2**stage
        for block in range(num_blocks):
            ours = f"backbone.res{stage + 2}.{block}"
            theirs = f"{prefix}encoder.stages.{stage}.layers.{block}"
            if block == 0 and in_channels != out_channels:
                conv_bn(f"{ours}.shortcut", f"{theirs}.shortcut")
            for conv in range(3 if kind == "bottleneck" else 2):
                conv_bn(f"{ours}.conv{conv + 1}", f"{theirs}.layer.{conv}")
        in_channels = out_channels
    return rules, unused
