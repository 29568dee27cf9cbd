"""Transformer decoders (registered in TRANSFORMER_DECODER_REGISTRY on import)."""

from .build import TRANSFORMER_DECODER_REGISTRY, build_transformer_decoder
from .mask2former_transformer_decoder import MultiScaleMaskedTransformerDecoder
from .maskformer_transformer_decoder import StandardTransformerDecoder
