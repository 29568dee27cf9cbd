"""Mask2Former and MaskFormer weights from and to Hugging Face transformers' format.

- :func:`import_checkpoint`: a transformers checkpoint folder (``config.json`` plus
  ``model.safetensors`` or ``pytorch_model.bin``) of ``Mask2FormerForUniversalSegmentation`` or
  ``MaskFormerForInstanceSegmentation`` -> this project's weights, a config YAML that builds
  the matching model, and the class names as a categories file;
- :func:`export_checkpoint`: a config and weights of this project -> a folder that
  transformers' ``from_pretrained`` loads with no missing or unexpected weights.

Every tensor is accounted for in both directions (:mod:`.tensor_plan`). transformers itself is
not needed. ``tools/convert_checkpoint.py`` is the command line; ``docs/weights.md`` lists the
supported backbones and the differences by design.
"""

from .errors import ConversionError
from .from_transformers import TASKS, Imported, import_checkpoint
from .to_transformers import Exported, export_checkpoint

__all__ = [
    "TASKS",
    "ConversionError",
    "Exported",
    "Imported",
    "export_checkpoint",
    "import_checkpoint",
]
