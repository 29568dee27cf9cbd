"""The model, in the order data flows through it: the meta-architecture (:mod:`.meta_arch`),
backbones (:mod:`.backbone`), heads (:mod:`.heads`) made of a pixel decoder
(:mod:`.pixel_decoder`) and a transformer decoder (:mod:`.transformer_decoder`), the training
objective (:mod:`.criterion`) and post-processing (:mod:`.postprocessing`). Importing the
subpackages registers their components with Detectron2's registries."""

from . import backbone, criterion, heads, meta_arch, pixel_decoder, transformer_decoder
