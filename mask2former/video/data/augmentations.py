"""Augmentations of video clips.

Each augmentation of a clip is either sampled once and applied to every frame (the same crop,
resize, flip... for the whole clip) or sampled anew for each frame. The published configs'
"choice_by_clip" (INPUT.MIN_SIZE_TRAIN_SAMPLING) and "flip_by_clip" (INPUT.RANDOM_FLIP) are
per clip; the image values ("choice", "range", "horizontal", "vertical") are per frame, as
published. Crops and INPUT.AUGMENTATIONS (brightness, contrast, saturation, rotation) are per
clip here, while the published mapper samples them per frame: a clip keeps one geometry, so an
object stays where its ground truth says in every frame.
"""

from typing import Iterable, Iterator, List, Sequence, Tuple

import numpy as np
from detectron2.data import transforms as T

from ...data.augmentations import ResizeShortestEdge
from ...errors import UserError

__all__ = ["ClipAugmentation", "build_clip_augmentations", "augment_clip"]

# (augmentation, sampled once per clip)
ClipAugmentation = Tuple[T.Augmentation, bool]

EXTRA_AUGMENTATIONS = ("brightness", "contrast", "saturation", "rotation")
_CLIP_SUFFIX = "_by_clip"


class VideoAugmentationError(UserError, ValueError):
    """An INPUT value the video pipeline does not know."""


def _resize_style(sampling: str) -> Tuple[str, bool]:
    """("choice" or "range", per clip) of INPUT.MIN_SIZE_TRAIN_SAMPLING."""
    style = sampling[: -len(_CLIP_SUFFIX)] if sampling.endswith(_CLIP_SUFFIX) else sampling
    if style not in ("choice", "range"):
        raise VideoAugmentationError(
            f"INPUT.MIN_SIZE_TRAIN_SAMPLING={sampling!r}: expected one of choice, range, "
            "choice_by_clip, range_by_clip"
        )
    return style, style != sampling


def _flip(random_flip: str) -> List[ClipAugmentation]:
    if random_flip == "none":
        return []
    if random_flip not in ("horizontal", "vertical", "flip_by_clip"):
        raise VideoAugmentationError(
            f"INPUT.RANDOM_FLIP={random_flip!r}: expected one of none, horizontal, vertical, "
            "flip_by_clip"
        )
    vertical = random_flip == "vertical"
    return [
        (T.RandomFlip(horizontal=not vertical, vertical=vertical), random_flip == "flip_by_clip")
    ]


def _extra(names: Sequence[str]) -> List[ClipAugmentation]:
    unknown = sorted(set(names) - set(EXTRA_AUGMENTATIONS))
    if unknown:
        raise VideoAugmentationError(
            f"INPUT.AUGMENTATIONS: unknown {unknown}; available: {list(EXTRA_AUGMENTATIONS)}"
        )
    factories = {
        "brightness": lambda: T.RandomBrightness(0.9, 1.1),
        "contrast": lambda: T.RandomContrast(0.9, 1.1),
        "saturation": lambda: T.RandomSaturation(0.9, 1.1),
        "rotation": lambda: T.RandomRotation(
            [-15, 15], expand=False, center=[(0.4, 0.4), (0.6, 0.6)], sample_style="range"
        ),
    }
    # in this fixed order, whatever the order of the list (as published)
    return [(factories[name](), True) for name in EXTRA_AUGMENTATIONS if name in names]


def build_clip_augmentations(cfg, is_train: bool) -> List[ClipAugmentation]:
    """Training: crop (INPUT.CROP, if enabled), resize of the shortest edge
    (INPUT.MIN_SIZE_TRAIN, MAX_SIZE_TRAIN, MIN_SIZE_TRAIN_SAMPLING), flip (INPUT.RANDOM_FLIP),
    then INPUT.AUGMENTATIONS, in the published order. Inference: the test resize."""
    if not is_train:
        return [(ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST), True)]
    augs: List[ClipAugmentation] = []
    if cfg.INPUT.CROP.ENABLED:
        augs.append((T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE), True))
    style, per_clip = _resize_style(cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)
    augs.append(
        (ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, style), per_clip)
    )
    return augs + _flip(cfg.INPUT.RANDOM_FLIP) + _extra(cfg.INPUT.AUGMENTATIONS)


def augment_clip(
    augmentations: Sequence[ClipAugmentation], frames: Iterable[np.ndarray]
) -> Iterator[Tuple[np.ndarray, T.TransformList]]:
    """Augment the frames of one clip (all of one size), yielding the (image, transforms) of
    each frame in turn. A per-clip augmentation is sampled on the first frame and its
    transform reused for the others."""
    clip_transforms = {}
    for frame in frames:
        aug_input = T.AugInput(frame)
        transforms = []
        for i, (aug, per_clip) in enumerate(augmentations):
            if per_clip and i in clip_transforms:
                transform = clip_transforms[i]
                aug_input.transform(transform)
            else:
                transform = aug(aug_input)
                if per_clip:
                    clip_transforms[i] = transform
            transforms.append(transform)
        yield aug_input.image, T.TransformList(transforms)
