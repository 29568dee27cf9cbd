"""MaskFormer and Mask2Former for Detectron2.

Importing this package registers the meta-architectures (image and video), heads, pixel
decoders, transformer decoders, backbones, dataset mappers, datasets and evaluators with
Detectron2's registries, and keeps freed heap memory mapped for the model's next pass
(:func:`mask2former.utils.allocator.keep_freed_heap_memory`).
"""

from . import (
    _quiet_imports,  # noqa: F401  (first: before anything imports fvcore)
    data,
    evaluation,
    model_zoo,
    modeling,
    solver,
    video,
)
from ._compat import install as _install_compat_aliases
from .config import add_maskformer2_config
from .utils.allocator import keep_freed_heap_memory as _keep_freed_heap_memory
from .video import add_maskformer2_video_config

_install_compat_aliases()
_keep_freed_heap_memory()

__version__ = "0.1.0"
