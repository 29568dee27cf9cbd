"""Dataset registration: every published dataset name plus the generated "shapes" datasets,
under $DETECTRON2_DATASETS (default ./datasets) at import time. ``register_all(root)``
re-registers them all under another root; ``register_description(path)`` registers a dataset
described in a YAML file (:mod:`.description`)."""

from .catalog import (
    DatasetNotFoundError,
    UnknownDatasetError,
    check_datasets,
    datasets_root,
    load_categories,
)
from .description import DescriptionError, register_description
from .register_ade20k import register_all_ade20k
from .register_cityscapes import register_all_cityscapes
from .register_coco import register_all_coco
from .register_mapillary_vistas import register_all_mapillary_vistas
from .register_shapes import register_all_shapes

__all__ = [
    "DatasetNotFoundError",
    "DescriptionError",
    "UnknownDatasetError",
    "check_datasets",
    "datasets_root",
    "load_categories",
    "register_all",
    "register_description",
]


def register_all(root: str):
    """(Re-)register all datasets of this package with ``root`` as the datasets folder."""
    register_all_ade20k(root)
    register_all_coco(root)
    register_all_cityscapes(root)
    register_all_mapillary_vistas(root)
    register_all_shapes(root)


register_all(datasets_root())
