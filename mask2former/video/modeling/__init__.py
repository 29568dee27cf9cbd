"""The video model's modules (importing registers the transformer decoder)."""

from .video_transformer_decoder import VideoMultiScaleMaskedTransformerDecoder

__all__ = ["VideoMultiScaleMaskedTransformerDecoder"]
