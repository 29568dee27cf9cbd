"""Data: dataset mappers (registry keyed by INPUT.DATASET_MAPPER_NAME), dataset registration
(importing this package registers every dataset), robust image reading, preparation of the
real datasets and the generated "shapes" dataset."""

from . import datasets, shapes
from .dataset_mappers import DATASET_MAPPER_REGISTRY, build_dataset_mapper
from .image_io import ImageReadError, read_image_checked
