"""Shared pieces of the tests of users' own datasets: the generated shapes dataset saved as a
user has it (JPEG images, label PNGs, COCO JSON files), the description files of the worked
example of docs/custom_data.md, and label images in the other formats users keep."""

import json
import os
import re
import shutil
from typing import Dict

import numpy as np
from PIL import Image

from helpers.paths import REPO

GUIDE = os.path.join(REPO, "docs", "custom_data.md")
SHAPES_CLASSES = ["circle", "square", "triangle", "star", "sky", "grass", "wall"]
# colours of the colour-label format of the tests (not the metadata's: a user's own)
SHAPES_COLORS = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
    [255, 0, 255],
    [128, 128, 0],
]
UNLABELED_COLOR = [0, 0, 0]


def guide_descriptions() -> Dict[str, str]:
    """{file name: YAML} of the description files of docs/custom_data.md's worked example (the
    YAML blocks whose first line is ``# datasets/shapes/<file name>``)."""
    with open(GUIDE, encoding="utf-8") as f:
        blocks = re.findall(r"```yaml\n# datasets/shapes/(\S+)\n(.*?)```", f.read(), re.S)
    assert blocks, f"{GUIDE} has no worked-example description"
    return dict(blocks)


def user_dataset(root) -> str:
    """The generated shapes dataset (4 train, 2 val images) under ``root``, with the worked
    example's description files beside it; returns its folder."""
    from mask2former.data.shapes import generate

    folder = generate(str(root), num_train=4, num_val=2)
    for name, text in guide_descriptions().items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    return folder


def write(path, text: str) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def semantic_description(name: str, labels: str, extra: str = "", splits=("train", "val")) -> str:
    """A semantic description of the shapes classes whose labels are in ``labels/<split>``."""
    lines = [
        f"name: {name}",
        "task: semantic",
        f"classes: {json.dumps(SHAPES_CLASSES)}",
        extra,
        "splits:",
    ]
    lines += [f"  {s}: {{image_root: images/{s}, sem_seg_root: {labels}/{s}}}" for s in splits]
    return "\n".join(lines) + "\n"


def prepared_labels(shapes: str, split: str) -> Dict[str, np.ndarray]:
    """{stem: labels} of the prepared labels (255 = unlabeled, class k = k)."""
    folder = os.path.join(shapes, "annotations_detectron2", split)
    return {
        os.path.splitext(n)[0]: np.asarray(Image.open(os.path.join(folder, n)))
        for n in sorted(os.listdir(folder))
    }


def write_color_labels(shapes: str, folder: str = "color_labels") -> str:
    """The prepared labels as RGB PNGs in ``SHAPES_COLORS`` (``UNLABELED_COLOR`` unlabeled)."""
    palette = np.array(SHAPES_COLORS + [UNLABELED_COLOR] * (256 - len(SHAPES_COLORS)), np.uint8)
    for split in ("train", "val"):
        for stem, labels in prepared_labels(shapes, split).items():
            path = os.path.join(shapes, folder, split, stem + ".png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(palette[labels]).save(path)
    return folder


def write_palette_labels(shapes: str, folder: str = "palette_labels") -> str:
    """The prepared labels as palette ("P") PNGs whose palette is not the identity."""
    for split in ("train", "val"):
        for stem, labels in prepared_labels(shapes, split).items():
            image = Image.fromarray(labels.astype(np.uint8), mode="P")
            image.putpalette(list(np.random.default_rng(0).integers(0, 256, 768, dtype=np.uint8)))
            path = os.path.join(shapes, folder, split, stem + ".png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            image.save(path)
    return folder


def copy_shapes(shapes: str, destination) -> str:
    """A copy of a shapes folder (to break files in), without its cache."""
    return shutil.copytree(
        shapes, str(destination), ignore=shutil.ignore_patterns(".mask2former-cache")
    )
