# Importing the subpackages registers their components with Detectron2's registries.
from . import backbone, meta_arch, pixel_decoder, transformer_decoder
