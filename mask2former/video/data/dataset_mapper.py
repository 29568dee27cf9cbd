"""The dataset mapper of YouTube-VIS format videos (published name ``YTVISDatasetMapper``)."""

import logging
from typing import Dict, List, Sequence

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.structures import BitMasks, Instances

from ...data.image_io import read_image_checked
from .augmentations import ClipAugmentation, augment_clip, build_clip_augmentations

__all__ = ["YTVISDatasetMapper", "sample_clip_frames"]


def sample_clip_frames(
    length: int, num_frames: int, frame_range: int, shuffle: bool, rng=np.random
) -> List[int]:
    """A training clip of a video of ``length`` frames, as published: a random reference
    frame plus ``num_frames - 1`` frames drawn (with replacement) within ``frame_range`` of
    it, sorted (shuffled if ``shuffle``). A one-frame video repeats its frame."""
    reference = int(rng.randint(length))
    window = [
        i
        for i in range(max(0, reference - frame_range), min(length, reference + frame_range + 1))
        if i != reference
    ]
    others = (
        rng.choice(window, num_frames - 1).tolist() if window else [reference] * (num_frames - 1)
    )
    frames = sorted(others + [reference])
    if shuffle:
        rng.shuffle(frames)
    return frames


class YTVISDatasetMapper:
    """Turns a YouTube-VIS record (see :mod:`.ytvis`) into the video model's input.

    Training: a clip of INPUT.SAMPLING_FRAME_NUM frames (:func:`sample_clip_frames`),
    augmented as a clip (:mod:`.augmentations`). Its objects are the non-crowd objects visible
    in at least one of its frames, in the order of their ids; every frame gets an ``Instances``
    with all of them, in that order: ``gt_ids`` (the object's id, -1 in frames where it is
    absent or augmented away), ``gt_classes``, ``gt_masks`` (BitMasks, empty where absent) and
    ``gt_boxes``.

    Inference: every frame of the video, resized for testing, no annotations.

    Output: the record's keys without "annotations", with "image" (T (3, H, W) uint8 tensors in
    INPUT.FORMAT), "file_names" (of those frames), "frame_indices" and, in training,
    "instances" (T Instances).
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        augmentations: Sequence[ClipAugmentation],
        image_format: str,
        sampling_frame_num: int = 2,
        sampling_frame_range: int = 5,
        sampling_frame_shuffle: bool = False,
    ):
        """
        Args:
            is_train: training (clips, augmentations, targets) or inference (whole videos).
            augmentations: (augmentation, sampled once per clip) pairs, in order.
            image_format: format for :func:`read_image_checked` ("BGR", "RGB").
            sampling_frame_num, sampling_frame_range, sampling_frame_shuffle: the training
                clips (see :func:`sample_clip_frames`).
        """
        if sampling_frame_num < 1:
            raise ValueError(f"INPUT.SAMPLING_FRAME_NUM must be >= 1, got {sampling_frame_num}")
        self.is_train = is_train
        self.augmentations = list(augmentations)
        self.image_format = image_format
        self.sampling_frame_num = sampling_frame_num
        self.sampling_frame_range = sampling_frame_range
        self.sampling_frame_shuffle = sampling_frame_shuffle
        mode = "training" if is_train else "inference"
        described = [
            f"{aug} ({'per clip' if clip else 'per frame'})" for aug, clip in augmentations
        ]
        logging.getLogger(__name__).info(
            f"[YTVISDatasetMapper] augmentations in {mode}: {described}"
        )

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            "is_train": is_train,
            "augmentations": build_clip_augmentations(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "sampling_frame_num": cfg.INPUT.SAMPLING_FRAME_NUM,
            "sampling_frame_range": cfg.INPUT.SAMPLING_FRAME_RANGE,
            "sampling_frame_shuffle": cfg.INPUT.SAMPLING_FRAME_SHUFFLE,
        }

    def __call__(self, dataset_dict: Dict) -> Dict:
        length = dataset_dict["length"]
        if self.is_train:
            frame_indices = sample_clip_frames(
                length,
                self.sampling_frame_num,
                self.sampling_frame_range,
                self.sampling_frame_shuffle,
            )
        else:
            frame_indices = list(range(length))
        annotations = dataset_dict.get("annotations") if self.is_train else None
        out = {k: v for k, v in dataset_dict.items() if k not in ("annotations", "file_names")}
        out["file_names"] = [dataset_dict["file_names"][i] for i in frame_indices]
        out["frame_indices"] = frame_indices

        def read(path):
            image = read_image_checked(path, self.image_format)
            utils.check_image_size(dataset_dict, image)
            return image

        clip = augment_clip(self.augmentations, (read(p) for p in out["file_names"]))
        if annotations is not None:
            objects = [
                [o for o in annotations[i] if not o.get("iscrowd", 0)] for i in frame_indices
            ]
            classes = {}
            for frame_objects in objects:
                for obj in frame_objects:
                    classes.setdefault(obj["id"], obj["category_id"])
            object_ids = sorted(classes)
        out["image"], out["instances"] = [], []
        for i, (image, transforms) in enumerate(clip):
            out["image"].append(torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))))
            if annotations is not None:
                out["instances"].append(
                    self._frame_instances(
                        objects[i], object_ids, classes, transforms, image.shape[:2]
                    )
                )
        if annotations is None:
            del out["instances"]
        return out

    @staticmethod
    def _frame_instances(objects, object_ids, classes, transforms, image_size) -> Instances:
        """One frame's Instances over all ``object_ids`` of the clip."""
        row_of = {object_id: row for row, object_id in enumerate(object_ids)}
        masks = torch.zeros((len(object_ids), *image_size), dtype=torch.bool)
        ids = torch.full((len(object_ids),), -1, dtype=torch.int64)
        annos = [
            utils.transform_instance_annotations(dict(o), transforms, image_size) for o in objects
        ]
        if annos:
            frame_masks = utils.annotations_to_instances(annos, image_size, mask_format="bitmask")
            for anno, mask in zip(annos, frame_masks.gt_masks.tensor):
                row = row_of[anno["id"]]
                masks[row] = mask
                if mask.any():
                    ids[row] = anno["id"]
        instances = Instances(tuple(image_size))
        instances.gt_ids = ids
        instances.gt_classes = torch.tensor([classes[i] for i in object_ids], dtype=torch.int64)
        instances.gt_masks = BitMasks(masks)
        instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        return instances
