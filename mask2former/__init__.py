"""MaskFormer and Mask2Former for Detectron2.

Importing this package registers the meta-architectures (image and video), heads, pixel
decoders, transformer decoders, backbones, dataset mappers, datasets and evaluators with
Detectron2's registries.
"""
from . import _quiet_imports  # noqa: F401  (first: before anything imports fvcore)
from .config import add_maskformer2_config
from . import data, evaluation, model_zoo, modeling, solver
from . import video
from .video import add_maskformer2_video_config
from ._compat import install as _install_compat_aliases

_install_compat_aliases()

__version__ = "0.1.0"
