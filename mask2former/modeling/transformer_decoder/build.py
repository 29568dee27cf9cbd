"""Registry of the transformer decoders that turn queries + image features into mask
predictions (``MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME``)."""

from detectron2.utils.registry import Registry

TRANSFORMER_DECODER_REGISTRY = Registry("TRANSFORMER_MODULE")
TRANSFORMER_DECODER_REGISTRY.__doc__ = """
Transformer decoders of MaskFormer-style heads. A registered class is called as
``cls(cfg, in_channels, mask_classification)`` and its forward as
``decoder(x, mask_features)``, returning {"pred_logits", "pred_masks", "aux_outputs"}.
"""


def build_transformer_decoder(cfg, in_channels: int, mask_classification: bool = True):
    """Build the decoder named by ``cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME``."""
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME
    return TRANSFORMER_DECODER_REGISTRY.get(name)(cfg, in_channels, mask_classification)
