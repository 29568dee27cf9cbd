"""Readers of the label formats that users keep their own data in (see
:mod:`mask2former.data.datasets.description`): semantic label images (class indices or colours),
COCO instance and COCO panoptic annotations; and the cache of the files derived from them."""

from .cache import CacheNotWritableError, DerivedFiles
from .coco import (
    CocoFileError,
    load_instance_records,
    read_coco_categories,
    read_coco_json,
)
from .coco_panoptic import (
    derived_instances_json,
    derived_semantic_root,
    load_panoptic_records,
)
from .semantic import (
    IMAGE_EXTENSIONS,
    LABEL_EXTENSIONS,
    DecodedLabels,
    LabelDecodeError,
    SemanticLabelFormat,
    SemanticPairs,
    list_images,
    load_semantic_records,
    pair_images_and_labels,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABEL_EXTENSIONS",
    "CacheNotWritableError",
    "CocoFileError",
    "DecodedLabels",
    "DerivedFiles",
    "LabelDecodeError",
    "SemanticLabelFormat",
    "SemanticPairs",
    "derived_instances_json",
    "derived_semantic_root",
    "list_images",
    "load_instance_records",
    "load_panoptic_records",
    "load_semantic_records",
    "pair_images_and_labels",
    "read_coco_categories",
    "read_coco_json",
]
