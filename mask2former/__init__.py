"""MaskFormer and Mask2Former for Detectron2.

Importing this package registers the meta-architecture, heads, pixel decoders, transformer
decoders, backbones, dataset mappers and datasets with Detectron2's registries.
"""
from . import _quiet_imports  # noqa: F401  (first: before anything imports fvcore)
from .config import add_maskformer2_config
from . import data, evaluation, model_zoo, modeling, solver

__version__ = "0.1.0"
