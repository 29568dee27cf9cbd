"""Dataset mappers, registered by their INPUT.DATASET_MAPPER_NAME."""
from .build import DATASET_MAPPER_REGISTRY, build_dataset_mapper
from .base import LabelValueError, MaskFormerDatasetMapper
from .semantic import MaskFormerSemanticDatasetMapper
from .panoptic import MaskFormerPanopticDatasetMapper
from .instance import MaskFormerInstanceDatasetMapper
from .detr_panoptic import DETRPanopticDatasetMapper
from .lsj import COCOInstanceLSJDatasetMapper, COCOPanopticLSJDatasetMapper

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
