"""Video inference for applications: BGR frames in, the video model's output out."""

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..engine.predictor import MaskFormerPredictor

__all__ = ["VideoPredictor"]


class VideoPredictor(MaskFormerPredictor):
    """Runs the video model of ``cfg`` (weights checked and loaded as by
    :class:`~mask2former.engine.predictor.MaskFormerPredictor`) on the frames of one video: every
    frame is resized for testing (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST), and the returned masks
    are at the frames' size. Long videos run clip by clip when
    MODEL.MASK_FORMER.TEST.CLIP_LENGTH is set."""

    def __call__(
        self,
        frames: Sequence[np.ndarray],
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> dict:
        """
        Args:
            frames: T (H, W, 3) uint8 BGR frames of one size.
            progress: called with (frames done, T) as the model advances.
        Returns:
            {"image_size": (H, W), "pred_scores", "pred_labels", "pred_masks": lists over
            the kept tracks, a mask being a (T, H, W) bool tensor}.
        """
        if not len(frames):
            raise ValueError("VideoPredictor: no frames")
        height, width = frames[0].shape[:2]
        transform = self.aug.get_transform(frames[0])
        tensors = []
        for frame in frames:
            if frame.shape[:2] != (height, width):
                raise ValueError(
                    f"VideoPredictor: frames of one video must have one size, got "
                    f"{frame.shape[1]}x{frame.shape[0]} after {width}x{height}"
                )
            if self.input_format == "RGB":
                frame = frame[:, :, ::-1]
            image = transform.apply_image(frame)
            tensors.append(torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))))
        with torch.no_grad():
            return self.model.inference_video(tensors, height, width, progress)
