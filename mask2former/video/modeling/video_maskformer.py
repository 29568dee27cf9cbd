"""The video instance segmentation meta-architecture (published name ``VideoMaskFormer``)."""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.modeling.backbone import Backbone
from detectron2.structures import ImageList
from torch import nn

from ...modeling.meta_arch.maskformer import build_criterion
from .clip_inference import LinkedTracks, check_clip_settings, clip_starts
from .postprocessing import StackedTracks, TrackPredictions, video_instance_inference

__all__ = ["VideoMaskFormer"]

# (frames done, frames in the video), after each clip
ProgressCallback = Callable[[int, int], None]


@META_ARCH_REGISTRY.register()
class VideoMaskFormer(nn.Module):
    """Mask2Former for video instance segmentation: the image model's backbone, pixel decoder
    and losses, with a transformer decoder whose queries each segment one object through all
    frames of a clip (``VideoMultiScaleMaskedTransformerDecoder``).

    Training: each input is a clip of ``num_frames`` frames with per-frame ground truth whose
    instance ids link an object's masks through the clip; the criterion matches tracks to
    objects over the whole clip.

    Inference: one video per call, in one forward pass over all its frames (the published
    inference, ``clip_length`` 0), or in clips of ``clip_length`` frames overlapping by
    ``clip_overlap`` frames, linked into tracks (:mod:`.clip_inference`), whose memory does not
    grow with the video beyond its inputs and outputs. The ``test_topk`` best (track, class)
    pairs are returned, as published.
    """

    @configurable
    def __init__(
        self,
        *,
        num_frames: int,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: int,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module,
        test_topk: int = 10,
        clip_length: int = 0,
        clip_overlap: int = 0,
    ):
        """
        Args (in the order the frames meet them):
            num_frames: frames of each training clip.
            pixel_mean, pixel_std: per-channel normalization of the input frames.
            size_divisibility: pad frames to a multiple of this (< 0: the backbone's).
            backbone: a Detectron2 backbone.
            sem_seg_head: a MaskFormerHead with a video transformer decoder.
            criterion: the matching-based loss (SetCriterion), with a ``weight_dict``.
            test_topk: (track, class) pairs returned per video.
            clip_length: frames per clip at inference; 0 runs the whole video at once.
            clip_overlap: frames shared by consecutive clips (< clip_length).
        """
        super().__init__()
        if clip_length:
            check_clip_settings(clip_length, clip_overlap)
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self.criterion = criterion
        self.num_frames = num_frames
        self.size_divisibility = (
            backbone.size_divisibility if size_divisibility < 0 else size_divisibility
        )
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.test_topk = test_topk
        self.clip_length = clip_length
        self.clip_overlap = clip_overlap

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        sem_seg_head = build_sem_seg_head(cfg, backbone.output_shape())
        test = cfg.MODEL.MASK_FORMER.TEST
        return {
            "backbone": backbone,
            "sem_seg_head": sem_seg_head,
            "criterion": build_criterion(cfg, sem_seg_head.num_classes),
            "num_frames": cfg.INPUT.SAMPLING_FRAME_NUM,
            "size_divisibility": cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "clip_length": test.CLIP_LENGTH,
            "clip_overlap": test.CLIP_OVERLAP,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_frames(self, frames: Sequence[torch.Tensor]) -> ImageList:
        """Normalize and pad frames into one (N, 3, H_pad, W_pad) batch."""
        frames = [(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in frames]
        return ImageList.from_tensors(frames, self.size_divisibility)

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: one dict per video with "image": a list of T (3, H, W) frames in
                cfg.INPUT.FORMAT; in training "instances": a list of T per-frame Instances
                with gt_ids (N,) (-1 where the object is absent), gt_classes (N,) and gt_masks
                (N, H, W), the same N objects in the same order in every frame (the video
                dataset mapper's output); at inference optionally "height"/"width", the
                output size.
        Returns:
            training: dict of weighted losses;
            inference (exactly one video): {"image_size": (height, width), "pred_scores",
            "pred_labels", "pred_masks": lists over the kept tracks, a mask being a
            (T, height, width) bool CPU tensor}.
        """
        if not self.training:
            if len(batched_inputs) != 1:
                raise ValueError(
                    f"VideoMaskFormer inference takes one video per call, got {len(batched_inputs)}"
                )
            video = batched_inputs[0]
            return self.inference_video(video["image"], video.get("height"), video.get("width"))
        for i, video in enumerate(batched_inputs):
            if len(video["image"]) != self.num_frames:
                raise ValueError(
                    f"training video {i} has {len(video['image'])} frames; the model trains on "
                    f"clips of INPUT.SAMPLING_FRAME_NUM={self.num_frames}"
                )
            if "instances" not in video:
                raise ValueError(
                    "VideoMaskFormer training needs per-frame 'instances' in every input; use "
                    "the video dataset mapper (mask2former.video.data.YTVISDatasetMapper)"
                )
        images = self.preprocess_frames([f for video in batched_inputs for f in video["image"]])
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        targets = self.prepare_targets(batched_inputs, images)
        losses = self.criterion(outputs, targets)
        weights = self.criterion.weight_dict
        return {k: v * weights[k] for k, v in losses.items() if k in weights}

    def prepare_targets(self, batched_inputs: List[Dict], images: ImageList) -> List[Dict]:
        """Criterion targets per video: the objects present in at least one frame, with
        "labels" (N,), "ids" (N, T) and "masks" (N, T, H_pad, W_pad) bool, empty in the frames
        where an object is absent. An object's label is its class in a frame where it is
        present."""
        h_pad, w_pad = images.tensor.shape[-2:]
        targets = []
        for video in batched_inputs:
            frames = [inst.to(self.device) for inst in video["instances"]]
            ids = torch.stack([f.gt_ids for f in frames], dim=1)
            classes = torch.stack([f.gt_classes for f in frames], dim=1)
            present = ids != -1
            masks = torch.zeros(
                (len(ids), len(frames), h_pad, w_pad), dtype=torch.bool, device=self.device
            )
            for t, frame in enumerate(frames):
                frame_masks = getattr(frame.gt_masks, "tensor", frame.gt_masks)
                masks[:, t, : frame_masks.shape[1], : frame_masks.shape[2]] = frame_masks
            masks &= present[:, :, None, None]
            keep = present.any(dim=1)
            first_present = present.int().argmax(dim=1)
            labels = classes[torch.arange(len(ids), device=self.device), first_present]
            targets.append({"labels": labels[keep], "ids": ids[keep], "masks": masks[keep]})
        return targets

    def _run_clip(self, frames: Sequence[torch.Tensor]):
        """The decoder outputs of one clip (batch index 0 dropped) and the ImageList."""
        images = self.preprocess_frames(frames)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        return {k: v[0] for k, v in outputs.items() if k != "aux_outputs"}, images

    @torch.no_grad()
    def inference_video(
        self,
        frames: Sequence[torch.Tensor],
        height: Optional[int] = None,
        width: Optional[int] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> Dict:
        """The published video output (see :meth:`forward`) for ``frames``, T (3, H, W) tensors
        of one size; masks at (height, width), by default the frames' size. ``progress`` is
        called after each clip."""
        sizes = {tuple(f.shape[-2:]) for f in frames}
        if len(sizes) != 1:
            raise ValueError(f"the frames of a video must have one size, got {sorted(sizes)}")
        image_size = sizes.pop()
        output_size = (height or image_size[0], width or image_size[1])
        if self.clip_length <= 0:
            outputs, images = self._run_clip(frames)
            tracks: TrackPredictions = StackedTracks(outputs["pred_logits"], outputs["pred_masks"])
            if progress:
                progress(len(frames), len(frames))
        else:
            tracks, images = self._link_clips(frames, progress)
        return video_instance_inference(
            tracks,
            topk=self.test_topk,
            padded_size=tuple(images.tensor.shape[-2:]),
            image_size=image_size,
            output_size=output_size,
        )

    def _link_clips(
        self, frames: Sequence[torch.Tensor], progress: Optional[ProgressCallback]
    ) -> Tuple[LinkedTracks, ImageList]:
        tracks = LinkedTracks(len(frames))
        for start in clip_starts(len(frames), self.clip_length, self.clip_overlap):
            stop = min(start + self.clip_length, len(frames))
            outputs, images = self._run_clip(frames[start:stop])
            tracks.add_clip(
                start, outputs["pred_logits"], outputs["pred_masks"], outputs["pred_embeds"]
            )
            if progress:
                progress(stop, len(frames))
        return tracks, images
