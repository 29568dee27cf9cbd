"""Builds the pixel decoder named by ``MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME``.

Pixel decoders live in Detectron2's SEM_SEG_HEADS_REGISTRY (as in the published code) and
provide ``forward_features(features) -> (mask_features, transformer_encoder_features,
multi_scale_features)``."""

from detectron2.modeling import SEM_SEG_HEADS_REGISTRY


def build_pixel_decoder(cfg, input_shape):
    """
    Args:
        input_shape: dict of backbone feature name -> ShapeSpec.
    """
    name = cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME
    model = SEM_SEG_HEADS_REGISTRY.get(name)(cfg, input_shape)
    if not callable(getattr(model, "forward_features", None)):
        raise ValueError(
            f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME={name!r} has no forward_features(); "
            "only pixel decoders (BasePixelDecoder, TransformerEncoderPixelDecoder, "
            "MSDeformAttnPixelDecoder, ...) can be used there"
        )
    return model
