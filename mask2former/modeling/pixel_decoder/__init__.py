"""Pixel decoders (registered in Detectron2's SEM_SEG_HEADS_REGISTRY on import)."""

from .build import build_pixel_decoder
from .fpn import BasePixelDecoder
from .msdeformattn import MSDeformAttnPixelDecoder
from .transformer_encoder_fpn import TransformerEncoderPixelDecoder
