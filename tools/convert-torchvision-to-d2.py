#!/usr/bin/env python
"""Convert a torchvision ResNet checkpoint into a Detectron2 .pkl for build_resnet_backbone.

    python tools/convert-torchvision-to-d2.py resnet101-63fe2227.pth R-101.pkl

Use it with MODEL.RESNETS.STRIDE_IN_1X1 False (torchvision strides in the 3x3 conv), RGB input
and PIXEL_MEAN [123.675, 116.280, 103.530] / PIXEL_STD [58.395, 57.120, 57.375], as the
published configs do. The classifier (fc) and BatchNorm's num_batches_tracked are dropped.
"""

import re

from mask2former.checkpoint import read_checkpoint
from mask2former.commands import weights_to_d2

# torchvision name pattern -> Detectron2 name template
_RULES = [
    (re.compile(r"^conv1\.(\w+)$"), "stem.conv1.{0}"),
    (re.compile(r"^bn1\.(\w+)$"), "stem.conv1.norm.{0}"),
    (re.compile(r"^layer(\d)\.(\d+)\.conv(\d)\.(\w+)$"), "res{stage}.{1}.conv{2}.{3}"),
    (re.compile(r"^layer(\d)\.(\d+)\.bn(\d)\.(\w+)$"), "res{stage}.{1}.conv{2}.norm.{3}"),
    (re.compile(r"^layer(\d)\.(\d+)\.downsample\.0\.(\w+)$"), "res{stage}.{1}.shortcut.{2}"),
    (re.compile(r"^layer(\d)\.(\d+)\.downsample\.1\.(\w+)$"), "res{stage}.{1}.shortcut.norm.{2}"),
]


def convert(state_dict):
    """torchvision ResNet state_dict -> {Detectron2 name: tensor}."""
    converted = {}
    for name, value in state_dict.items():
        if name.startswith("fc.") or name.endswith("num_batches_tracked"):
            continue
        for pattern, template in _RULES:
            match = pattern.match(name)
            if match:
                groups = match.groups()
                stage = int(groups[0]) + 1 if name.startswith("layer") else None
                converted[template.format(*groups, stage=stage)] = value
                break
        else:
            raise ValueError(f"'{name}' is not a torchvision ResNet parameter name")
    return converted


def main(argv=None):
    parser = weights_to_d2.parser(__doc__, "torchvision ResNet weights (.pth, or .safetensors)")
    args = parser.parse_args(argv)
    converted = convert(read_checkpoint(args.input)["model"])
    weights_to_d2.write(converted, args.output, "torchvision")


if __name__ == "__main__":
    main()
