"""Videos of any length: the model runs on clips of a fixed length, and the queries of each clip
are linked to the tracks of the clips before it.

Linking: the Q queries of a new clip are assigned one-to-one to the Q tracks (Hungarian
matching) by the cosine similarity of their embeddings to the tracks' embeddings in the
previous clip, plus, when the clips overlap, the soft dice overlap of their masks with the
tracks' masks on the shared frames. A track's class distribution is the mean over its clips;
its mask logits in a frame are the mean over the clips that contain the frame.

Memory: the model holds one clip at a time; per frame, the tracks' mask logits at the model's
mask resolution (Q x H/4 x W/4 floats) are kept on the host until the end, when only the kept
tracks are upsampled.
"""

from typing import List

import torch
from scipy.optimize import linear_sum_assignment
from torch.nn import functional as F

from ...errors import UserError
from ...modeling.criterion.losses import pairwise_dice_cost
from .postprocessing import TrackPredictions

__all__ = ["ClipSettingsError", "check_clip_settings", "clip_starts", "LinkedTracks"]

CPU = torch.device("cpu")


class ClipSettingsError(UserError, ValueError):
    """A clip length or overlap with which clip-wise inference cannot advance."""


def check_clip_settings(clip_length: int, overlap: int) -> None:
    """Raise ClipSettingsError unless clips of ``clip_length`` frames overlapping by
    ``overlap`` frames make progress."""
    if clip_length < 1:
        raise ClipSettingsError(
            f"MODEL.MASK_FORMER.TEST.CLIP_LENGTH must be >= 1, got {clip_length}"
        )
    if not 0 <= overlap < clip_length:
        raise ClipSettingsError(
            "MODEL.MASK_FORMER.TEST.CLIP_OVERLAP must lie in [0, CLIP_LENGTH), got "
            f"{overlap} with CLIP_LENGTH {clip_length}"
        )


def clip_starts(num_frames: int, clip_length: int, overlap: int) -> List[int]:
    """First frames of the clips that cover ``num_frames`` frames: clips of ``clip_length``
    frames, each starting ``clip_length - overlap`` frames after the previous one; the last
    starts at ``num_frames - clip_length`` so that it is full (it may overlap more). A video
    shorter than a clip is one clip."""
    check_clip_settings(clip_length, overlap)
    last = max(num_frames - clip_length, 0)
    starts = list(range(0, last, clip_length - overlap))
    return starts + [last]


class LinkedTracks(TrackPredictions):
    """The tracks of a video built clip by clip with :meth:`add_clip`, in order."""

    def __init__(self, num_frames: int, storage: torch.device = CPU):
        """
        Args:
            num_frames: T, frames of the video.
            storage: where the per-frame mask logits wait for the end of the video.
        """
        self.num_frames = num_frames
        self.storage = storage
        self.num_clips = 0
        self._prob_sum = None  # (Q, K)
        self._embeds = None  # (Q, C) of the last clip, in track order
        self._logit_sums: List = [None] * num_frames  # per frame (Q, h, w)
        self._counts = [0] * num_frames

    @property
    def class_prob(self) -> torch.Tensor:
        return self._prob_sum / self.num_clips

    def _mean_logits(self, frame: int, rows=slice(None)) -> torch.Tensor:
        """(Q or len(rows), h, w) mean mask logits of the tracks ``rows`` in ``frame``."""
        return self._logit_sums[frame][rows] / self._counts[frame]

    def _similarity(self, start: int, mask_logits: torch.Tensor, embeds: torch.Tensor):
        """(Q clip queries, Q tracks) similarity of a clip starting at ``start``."""
        similarity = F.normalize(embeds, dim=-1) @ F.normalize(self._embeds, dim=-1).T
        shared = [f for f in range(start, start + mask_logits.shape[1]) if self._counts[f]]
        if shared:
            clip = mask_logits[:, shared[0] - start : shared[-1] + 1 - start]
            tracks = torch.stack([self._mean_logits(f) for f in shared], dim=1)
            tracks = tracks.to(clip.device).sigmoid()
            similarity = similarity + 1 - pairwise_dice_cost(clip.flatten(1), tracks.flatten(1))
        return similarity

    def add_clip(
        self,
        start: int,
        class_logits: torch.Tensor,
        mask_logits: torch.Tensor,
        embeds: torch.Tensor,
    ) -> torch.Tensor:
        """Link a clip to the tracks and add its predictions to theirs.

        Args:
            start: the clip's first frame; clips come in order of their start.
            class_logits: (Q, K+1) of the clip's queries.
            mask_logits: (Q, L, h, w) of the clip's queries in its L frames.
            embeds: (Q, C) the queries' embeddings.
        Returns:
            (Q,) int64: the clip query that continues each track.
        """
        if start + mask_logits.shape[1] > self.num_frames:
            raise ValueError(
                f"a clip of {mask_logits.shape[1]} frames at frame {start} ends after the "
                f"video's {self.num_frames} frames"
            )
        class_logits, mask_logits, embeds = (
            x.detach().float() for x in (class_logits, mask_logits, embeds)
        )
        if self.num_clips == 0:
            order = torch.arange(len(class_logits))
            self._prob_sum = torch.zeros_like(class_logits[:, :-1])
        else:
            similarity = self._similarity(start, mask_logits, embeds)
            queries, tracks = linear_sum_assignment(similarity.cpu().numpy(), maximize=True)
            order = torch.empty(len(tracks), dtype=torch.int64)
            order[torch.as_tensor(tracks)] = torch.as_tensor(queries)
        order_on_device = order.to(class_logits.device)
        self._prob_sum += F.softmax(class_logits, dim=-1)[order_on_device, :-1]
        self._embeds = embeds[order_on_device]
        clip_logits = mask_logits[order_on_device].to(self.storage)
        for i in range(clip_logits.shape[1]):
            frame = start + i
            if self._counts[frame]:
                self._logit_sums[frame] += clip_logits[:, i]
            else:
                self._logit_sums[frame] = clip_logits[:, i].clone()
            self._counts[frame] += 1
        self.num_clips += 1
        return order

    def frame_logits(self, tracks, start, stop):
        missing = [f for f in range(start, stop) if not self._counts[f]]
        if missing:
            raise ValueError(f"frames {missing} are in no clip")
        rows = tracks.to(self.storage)
        logits = torch.stack([self._mean_logits(f, rows) for f in range(start, stop)], dim=1)
        return logits.to(self._prob_sum.device)
