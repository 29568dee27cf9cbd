"""Sliding-window semantic inference, for images too large to run whole: the network sees one
window of the (resized) image at a time, and each pixel's class scores are the mean of the
scores of the windows that cover it (MMSegmentation's "slide" test mode)."""

import math
from typing import Callable, Dict, List, Tuple

import torch

from .outputs import crop_and_resize
from .spec import InferenceSpec


def window_starts(length: int, window: int, stride: int) -> List[int]:
    """First pixel of each window along a side of ``length`` pixels: every ``stride`` pixels,
    the last window ending at the side's end (so windows never leave the image); one window
    of the whole side when ``length <= window``."""
    if length <= window:
        return [0]
    count = math.ceil((length - window) / stride) + 1
    return [min(i * stride, length - window) for i in range(count)]


def window_boxes(
    image_size: Tuple[int, int], window: Tuple[int, int], stride: Tuple[int, int]
) -> List[Tuple[int, int, int, int]]:
    """(y0, x0, y1, x1) of the windows covering an image of ``image_size`` (h, w), row by row."""
    (h, w), (wh, ww), (sh, sw) = image_size, window, stride
    return [
        (y0, x0, min(y0 + wh, h), min(x0 + ww, w))
        for y0 in window_starts(h, wh, sh)
        for x0 in window_starts(w, ww, sw)
    ]


def sliding_window_scores(
    image: torch.Tensor,
    window: Tuple[int, int],
    stride: Tuple[int, int],
    window_scores: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Per-class scores of an image, window by window.

    Args:
        image: (3, H, W), the network's (resized, unnormalized) input image.
        window, stride: (h, w) of the windows and of the steps between them.
        window_scores: maps a (3, h, w) crop of ``image`` to its (K, h, w) scores.
    Returns:
        (K, H, W) float: at each pixel the mean of the scores of the windows covering it. A
        single window (an image no larger than ``window``) returns its scores unchanged.
    """
    boxes = window_boxes(tuple(image.shape[-2:]), window, stride)
    if len(boxes) == 1:
        return window_scores(image)
    total = count = None
    for y0, x0, y1, x1 in boxes:
        scores = window_scores(image[:, y0:y1, x0:x1])
        if total is None:
            total = scores.new_zeros((scores.shape[0],) + tuple(image.shape[-2:]))
            count = scores.new_zeros(tuple(image.shape[-2:]))
        total[:, y0:y1, x0:x1] += scores
        count[y0:y1, x0:x1] += 1
    return total.div_(count)  # in place: the (K, H, W) maps are the largest tensors here


def sliding_window_semantic(
    image: torch.Tensor,
    spec: InferenceSpec,
    window_scores: Callable[[torch.Tensor], torch.Tensor],
    output_size: Tuple[int, int],
) -> Dict[str, torch.Tensor]:
    """One image's {"sem_seg": (K, height, width)} by ``spec``'s sliding windows: the window
    scores' mean (:func:`sliding_window_scores`) resized to ``output_size`` (height, width).

    ``window_scores`` runs the network and post-processing on one crop, at the crop's own
    size. The result equals whole-image inference when one window covers the image; scores are
    resized after inference even with ``spec.sem_seg_postprocess_before_inference`` (which only
    changes results when the output size differs from the resized image's).
    """
    scores = sliding_window_scores(
        image, spec.sliding_window_size, spec.sliding_window_stride, window_scores
    )
    return {"sem_seg": crop_and_resize(scores, tuple(image.shape[-2:]), *output_size)}
