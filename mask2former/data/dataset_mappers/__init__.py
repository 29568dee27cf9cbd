"""Dataset mappers, registered by their INPUT.DATASET_MAPPER_NAME."""

from .base import LabelValueError, MaskFormerDatasetMapper
from .build import DATASET_MAPPER_REGISTRY, build_dataset_mapper
from .detr_panoptic import DETRPanopticDatasetMapper
from .instance import MaskFormerInstanceDatasetMapper
from .lsj import COCOInstanceLSJDatasetMapper, COCOPanopticLSJDatasetMapper
from .panoptic import MaskFormerPanopticDatasetMapper
from .semantic import MaskFormerSemanticDatasetMapper

__all__ = [
    "COCOInstanceLSJDatasetMapper",
    "COCOPanopticLSJDatasetMapper",
    "DATASET_MAPPER_REGISTRY",
    "DETRPanopticDatasetMapper",
    "LabelValueError",
    "MaskFormerDatasetMapper",
    "MaskFormerInstanceDatasetMapper",
    "MaskFormerPanopticDatasetMapper",
    "MaskFormerSemanticDatasetMapper",
    "build_dataset_mapper",
]
