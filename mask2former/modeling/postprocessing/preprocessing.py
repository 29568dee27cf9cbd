"""From an image to the network's input, the same for the model (training and inference), the
predictor and the exported runtime: the test-time resize, then normalization and zero padding."""

from typing import Sequence, Tuple

import numpy as np
import torch
from detectron2.structures import ImageList

from ...data.augmentations import ResizeShortestEdge
from .spec import InferenceSpec


def inference_resize(min_size_test: int, max_size_test: int) -> ResizeShortestEdge:
    """INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST's resize: shortest edge to ``min_size_test``,
    longest edge at most ``max_size_test``, never a side of 0 pixels (an image of extreme
    aspect ratio keeps a side of 1 pixel)."""
    return ResizeShortestEdge([min_size_test, min_size_test], max_size_test)


def resized_image(image: np.ndarray, input_format: str, resize: ResizeShortestEdge) -> torch.Tensor:
    """An (H, W, 3) uint8 BGR image (as cv2 reads it) as the network's (3, h, w) float32 image
    before normalization: in ``input_format`` ("RGB" or "BGR") order, resized by ``resize``
    (:func:`inference_resize`), as Detectron2's ``DefaultPredictor`` makes it."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) BGR image, got shape {image.shape}")
    if input_format == "RGB":
        image = image[:, :, ::-1]
    image = resize.get_transform(image).apply_image(image)
    return torch.as_tensor(image.astype("float32").transpose(2, 0, 1))


def pixel_statistics(spec: InferenceSpec) -> Tuple[torch.Tensor, torch.Tensor]:
    """``spec``'s pixel mean and std as (3, 1, 1) float32 tensors."""
    return torch.tensor(spec.pixel_mean).view(-1, 1, 1), torch.tensor(spec.pixel_std).view(-1, 1, 1)


def network_input(
    images: Sequence[torch.Tensor],
    pixel_mean: torch.Tensor,
    pixel_std: torch.Tensor,
    spec: InferenceSpec,
) -> ImageList:
    """Normalize images and zero-pad them at the bottom and right into one batch.

    Args:
        images: N (3, h_i, w_i) float32 images in ``spec.input_format``, resized.
        pixel_mean, pixel_std: (3, 1, 1), on the images' device (``pixel_statistics``).
    Returns:
        (N, 3, H_pad, W_pad) images with their (h_i, w_i): padded to ``spec.fixed_input_size``
        when set, else to the largest h_i, w_i rounded up to a multiple of
        ``spec.size_divisibility``.
    """
    normalized = [(x - pixel_mean) / pixel_std for x in images]
    if spec.fixed_input_size is None:
        return ImageList.from_tensors(normalized, spec.size_divisibility)
    fixed_h, fixed_w = spec.fixed_input_size
    batch = normalized[0].new_zeros((len(normalized), 3, fixed_h, fixed_w))
    for padded, image in zip(batch, normalized):
        h, w = image.shape[-2:]
        if h > fixed_h or w > fixed_w:
            raise ValueError(
                f"the resized image ({h}x{w}) is larger than the exported input size "
                f"{fixed_h}x{fixed_w}; export with --dynamic or a larger --size"
            )
        padded[:, :h, :w] = image
    return ImageList(batch, [tuple(x.shape[-2:]) for x in normalized])
