"""Turning one video's tracks (a class distribution and per-frame mask logits per query) into
the published output of the video model."""

from typing import Dict, Tuple

import torch
from torch.nn import functional as F

from ...modeling.postprocessing import crop_and_resize, top_class_pairs, upsample_masks

__all__ = ["TrackPredictions", "StackedTracks", "masks_at_output_size", "video_instance_inference"]

# frames upsampled to the output size at a time: bounds the float32 upsampling buffers
FRAMES_PER_CHUNK = 8


class TrackPredictions:
    """The predictions of Q tracks over a video of ``num_frames`` frames.

    Attributes:
        class_prob: (Q, K) class probabilities (no "no object" column).
        num_frames: T.
    """

    class_prob: torch.Tensor
    num_frames: int

    def frame_logits(self, tracks: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """(len(tracks), stop - start, h, w) float32 mask logits of ``tracks`` in frames
        [start, stop), at the model's mask resolution, on the device of ``class_prob``."""
        raise NotImplementedError


class StackedTracks(TrackPredictions):
    """One forward pass over the whole video: query q is track q."""

    def __init__(self, class_logits: torch.Tensor, mask_logits: torch.Tensor):
        """
        Args:
            class_logits: (Q, K+1).
            mask_logits: (Q, T, h, w).
        """
        self.class_prob = F.softmax(class_logits.float(), dim=-1)[:, :-1]
        self.mask_logits = mask_logits
        self.num_frames = mask_logits.shape[1]

    def frame_logits(self, tracks, start, stop):
        return self.mask_logits[tracks, start:stop].float()


def masks_at_output_size(
    logits: torch.Tensor,
    padded_size: Tuple[int, int],
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
) -> torch.Tensor:
    """Binary masks from mask logits, as published: (R, t, h, w) logits upsampled (bilinear)
    to the padded input size, cropped to the input frame's ``image_size``, resized to
    ``output_size`` and thresholded at 0. Returns (R, t, *output_size) bool."""
    logits = upsample_masks(logits, padded_size)
    return crop_and_resize(logits, image_size, *output_size) > 0


def video_instance_inference(
    tracks: TrackPredictions,
    *,
    topk: int,
    padded_size: Tuple[int, int],
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
) -> Dict:
    """The ``topk`` best (track, class) pairs of a video, in the published output format.

    Args:
        tracks: the video's tracks.
        topk: pairs kept (at most Q * K); the published model keeps 10.
        padded_size, image_size: (h, w) of the padded model input and of the input frames.
        output_size: (height, width) of the returned masks.
    Returns:
        {"image_size": output_size, "pred_scores": [R floats], "pred_labels": [R ints],
         "pred_masks": [R bool CPU tensors (T, height, width)]}, highest score first.
    """
    scores, labels, queries = top_class_pairs(tracks.class_prob, topk)
    masks = torch.empty((len(queries), tracks.num_frames, *output_size), dtype=torch.bool)
    for start in range(0, tracks.num_frames, FRAMES_PER_CHUNK):
        stop = min(start + FRAMES_PER_CHUNK, tracks.num_frames)
        logits = tracks.frame_logits(queries, start, stop)
        masks[:, start:stop] = masks_at_output_size(
            logits, padded_size, image_size, output_size
        ).cpu()
    return {
        "image_size": tuple(output_size),
        "pred_scores": scores.tolist(),
        "pred_labels": labels.tolist(),
        "pred_masks": list(masks.unbind(0)),
    }
