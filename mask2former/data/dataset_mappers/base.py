"""The geometry pipeline shared by every MaskFormer dataset mapper.

A mapper reads the image, reads the annotation label maps (subclass hook), runs one list of
detectron2 augmentations over image and label maps together, turns the annotations into
per-segment binary masks (subclass hook) and pads everything to ``size_divisibility``.
"""

import copy
import logging
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.projects.point_rend import ColorAugSSDTransform
from detectron2.structures import BitMasks, Instances

from ...errors import UserError
from ...layers.padding import pad_to_multiple
from ..augmentations import ResizeShortestEdge
from ..image_io import read_image_checked

__all__ = [
    "LabelValueError",
    "MaskFormerDatasetMapper",
    "dataset_ignore_label",
    "flip_augmentations",
]


class LabelValueError(UserError, ValueError):
    """A training annotation whose class id is not one of the model's classes."""


# Value of padded image pixels (as in the published mappers).
IMAGE_PAD_VALUE = 128


def dataset_ignore_label(cfg, default: int = 255) -> int:
    """The ignore label of the first training dataset (255 when it declares none)."""
    if not cfg.DATASETS.TRAIN:
        return default
    return getattr(MetadataCatalog.get(cfg.DATASETS.TRAIN[0]), "ignore_label", default)


def flip_augmentations(cfg) -> List[T.Augmentation]:
    """RandomFlip per cfg.INPUT.RANDOM_FLIP ("horizontal", "vertical" or "none")."""
    if cfg.INPUT.RANDOM_FLIP == "none":
        return []
    return [
        T.RandomFlip(
            horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
            vertical=cfg.INPUT.RANDOM_FLIP == "vertical",
        )
    ]


def _to_augmentable(label: np.ndarray) -> np.ndarray:
    """float64 (exact for ids < 2^53) for every label map: detectron2 resizes uint8 arrays with
    PIL and others with torch, whose nearest-neighbour grids differ slightly, so one dtype
    keeps all label maps of an image aligned."""
    return label.astype(np.float64)


class MaskFormerDatasetMapper:
    """Base mapper. Subclasses implement :meth:`load_label_maps` and :meth:`targets`.

    Output per image (besides the input record's keys): ``image`` (3, H, W) uint8 tensor in
    ``image_format``; ``sem_seg`` (H, W) int64 when the record has semantic labels (padding
    is ``ignore_label``); ``instances`` with ``gt_classes`` (N,) int64, ``gt_masks`` (N, H, W)
    bool and ``gt_boxes`` (boxes of the masks). Segments left empty by cropping are dropped;
    an image without segments yields N = 0. A class id outside ``[0, num_classes)`` raises
    :class:`LabelValueError` naming the annotation file (``LABEL_FILE_KEY`` of the record).
    """

    # the record's key of the file that the class ids come from, for error messages
    LABEL_FILE_KEY = "file_name"

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        augmentations: List[T.Augmentation],
        image_format: str,
        ignore_label: int = 255,
        size_divisibility: int = -1,
        num_classes: Optional[int] = None,
    ):
        """
        Args:
            is_train: training (random augmentations) or inference mode.
            augmentations: applied to image and label maps together, in order.
            image_format: format for :func:`read_image_checked` ("BGR", "RGB").
            ignore_label: semantic label of unannotated and padded pixels.
            size_divisibility: pad the outputs' height and width to multiples of this (<= 0: off).
            num_classes: the model's number of classes K; class ids outside [0, K) are refused
                (None: not checked; from a config: checked in training).
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.ignore_label = ignore_label
        self.size_divisibility = size_divisibility
        self.num_classes = num_classes
        mode = "training" if is_train else "inference"
        logging.getLogger(__name__).info(
            f"[{type(self).__name__}] augmentations in {mode}: {augmentations}"
        )

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ignore_label = dataset_ignore_label(cfg)
        return {
            "is_train": is_train,
            "augmentations": cls.build_augmentations(cfg, is_train, ignore_label),
            "image_format": cfg.INPUT.FORMAT,
            "ignore_label": ignore_label,
            "size_divisibility": cfg.INPUT.SIZE_DIVISIBILITY if is_train else -1,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES if is_train else None,
        }

    @classmethod
    def build_augmentations(cls, cfg, is_train: bool, ignore_label: int) -> List[T.Augmentation]:
        """Resize the shortest edge to a size chosen from INPUT.MIN_SIZE_TRAIN, crop (if enabled),
        SSD colour jitter (if enabled), flip. Inference: resize to INPUT.MIN_SIZE_TEST only."""
        if not is_train:
            return [ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)]
        augs = [
            ResizeShortestEdge(
                cfg.INPUT.MIN_SIZE_TRAIN,
                cfg.INPUT.MAX_SIZE_TRAIN,
                cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
            )
        ]
        if cfg.INPUT.CROP.ENABLED:
            augs.append(cls.build_crop(cfg, ignore_label))
        if cfg.INPUT.COLOR_AUG_SSD:
            augs.append(ColorAugSSDTransform(img_format=cfg.INPUT.FORMAT))
        return augs + flip_augmentations(cfg)

    @classmethod
    def build_crop(cls, cfg, ignore_label: int) -> T.Augmentation:
        """Random crop that keeps any single category below INPUT.CROP.SINGLE_CATEGORY_MAX_AREA
        of the crop (needs a "sem_seg" label map)."""
        return T.RandomCrop_CategoryAreaConstraint(
            cfg.INPUT.CROP.TYPE,
            cfg.INPUT.CROP.SIZE,
            cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA,
            ignore_label,
        )

    # ---- subclass hooks ----
    def load_label_maps(self, dataset_dict: dict, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Read the record's label maps, each (H, W) int64 of the image's size. The one named
        "sem_seg" (semantic labels, ignore_label = unlabeled) drives the crop constraint and
        is returned as the ``sem_seg`` output."""
        raise NotImplementedError

    def targets(
        self,
        dataset_dict: dict,
        label_maps: Dict[str, np.ndarray],
        transforms: T.TransformList,
        image_size: Tuple[int, int],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """From the augmented label maps (and the transforms, for annotations that are not
        label maps) return (classes (N,) int64, masks (N, H, W) bool) at ``image_size``."""
        raise NotImplementedError

    def check_classes(self, dataset_dict: dict, classes: torch.Tensor) -> None:
        """Raises :class:`LabelValueError` naming the record's annotation file when a class id
        lies outside [0, num_classes) (the criterion would refuse it later without the file)."""
        if self.num_classes is None or len(classes) == 0:
            return
        outside = (classes < 0) | (classes >= self.num_classes)
        if outside.any():
            source = dataset_dict.get(self.LABEL_FILE_KEY, dataset_dict["file_name"])
            raise LabelValueError(
                f"{source}: class ids {classes[outside].unique().tolist()} are outside the "
                f"{self.num_classes} classes of MODEL.SEM_SEG_HEAD.NUM_CLASSES (0 to "
                f"{self.num_classes - 1}; ignore label {self.ignore_label}). Fix the labels, or "
                "set NUM_CLASSES (or the dataset's ignore_label) to match them."
            )

    # ---- pipeline ----
    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = read_image_checked(dataset_dict["file_name"], self.image_format)
        utils.check_image_size(dataset_dict, image)
        label_maps = {
            name: _to_augmentable(label)
            for name, label in self.load_label_maps(dataset_dict, image).items()
        }
        original_size = image.shape[:2]

        aug_input = T.AugInput(image, sem_seg=label_maps.get("sem_seg"))
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        image_size = image.shape[:2]
        # Pixels that the transforms added (e.g. FixedSizeCrop's padding) are not annotated.
        added = transforms.apply_segmentation(np.zeros(original_size, dtype=np.uint8)) != 0
        for name, label in label_maps.items():
            label = aug_input.sem_seg if name == "sem_seg" else transforms.apply_segmentation(label)
            label = label.astype(np.int64)
            label[added] = self.ignore_label if name == "sem_seg" else 0
            label_maps[name] = label

        classes, masks = self.targets(dataset_dict, label_maps, transforms, image_size)
        self.check_classes(dataset_dict, classes)
        masks = masks & torch.from_numpy(~added)
        keep = masks.flatten(1).any(dim=1)
        classes, masks = classes[keep], masks[keep]

        image = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        sem_seg = torch.from_numpy(label_maps["sem_seg"]) if "sem_seg" in label_maps else None
        if self.size_divisibility > 0:
            image = pad_to_multiple(image, self.size_divisibility, IMAGE_PAD_VALUE)
            masks = pad_to_multiple(masks, self.size_divisibility, 0)
            if sem_seg is not None:
                sem_seg = pad_to_multiple(sem_seg, self.size_divisibility, self.ignore_label)

        dataset_dict["image"] = image
        if sem_seg is not None:
            dataset_dict["sem_seg"] = sem_seg.long()
        instances = Instances(tuple(image.shape[-2:]))
        instances.gt_classes = classes.long()
        instances.gt_masks = masks
        instances.gt_boxes = BitMasks(masks).get_bounding_boxes()
        dataset_dict["instances"] = instances
        dataset_dict.pop("annotations", None)
        return dataset_dict
