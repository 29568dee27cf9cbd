"""The architectures the converters carry, put together from their backbone and head parts:

=========================  ====================================  ==========================
transformers model         backbone_config.model_type            this project
=========================  ====================================  ==========================
Mask2Former (universal)    "swin" (SwinBackbone), "resnet"       MSDeformAttnPixelDecoder +
                                                                 MultiScaleMaskedTransformerDecoder
MaskFormer (instance seg)  "maskformer-swin" / "swin", "resnet"  BasePixelDecoder +
                                                                 StandardTransformerDecoder
=========================  ====================================  ==========================
"""

from typing import Dict, List, Sequence

from .errors import ConversionError
from .fields import Fields
from .mask2former_head import (
    MASK2FORMER_DEFAULTS,
    mask2former_from_cfg,
    mask2former_rules,
    mask2former_to_cfg,
)
from .maskformer_head import (
    DETR_DEFAULTS,
    MASKFORMER_DEFAULTS,
    maskformer_from_cfg,
    maskformer_rules,
    maskformer_to_cfg,
)
from .resnet import RESNET_DEFAULTS, resnet_from_cfg, resnet_rules, resnet_to_cfg
from .swin import SWIN_DEFAULTS, SWIN_TYPES, swin_from_cfg, swin_rules, swin_to_cfg
from .tensor_plan import TensorPlan

__all__ = [
    "MODEL_CLASSES",
    "architecture_of",
    "cfg_from_transformers",
    "transformers_config",
    "tensor_plan",
]

MODEL_CLASSES = {
    "mask2former": "Mask2FormerForUniversalSegmentation",
    "maskformer": "MaskFormerForInstanceSegmentation",
}
_DECODERS = {
    "MultiScaleMaskedTransformerDecoder": "mask2former",
    "StandardTransformerDecoder": "maskformer",
}
_BACKBONE_PREFIX = "model.pixel_level_module.encoder."
# the backbone transformers builds when a config has no backbone_config
_DEFAULT_BACKBONES = {
    "mask2former": {"model_type": "swin", "depths": [2, 2, 18, 2], "drop_path_rate": 0.3},
    "maskformer": {
        "model_type": "swin",
        "depths": [2, 2, 18, 2],
        "drop_path_rate": 0.3,
        "image_size": 384,
        "embed_dim": 128,
        "num_heads": [4, 8, 16, 32],
        "window_size": 12,
    },
}
_EVERY_STAGE = ["stage1", "stage2", "stage3", "stage4"]


def architecture_of(cfg) -> str:
    """ "mask2former" or "maskformer", from MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME."""
    if cfg.MODEL.META_ARCHITECTURE != "MaskFormer":
        raise ConversionError(
            f"MODEL.META_ARCHITECTURE {cfg.MODEL.META_ARCHITECTURE!r}: transformers has "
            "Mask2Former and MaskFormer only (the per-pixel baselines have no counterpart)"
        )
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME
    if name not in _DECODERS:
        raise ConversionError(f"MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME {name!r} is unknown")
    return _DECODERS[name]


def _is_swin(cfg) -> bool:
    return cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer"


def _strides(cfg) -> List[int]:
    first = cfg.MODEL.SWIN.PATCH_SIZE if _is_swin(cfg) else 4
    return [first * 2**i for i in range(4)]


def _res5_channels(cfg) -> int:
    if _is_swin(cfg):
        return cfg.MODEL.SWIN.EMBED_DIM * 2 ** (len(cfg.MODEL.SWIN.DEPTHS) - 1)
    return cfg.MODEL.RESNETS.RES2_OUT_CHANNELS * 8


def cfg_from_transformers(
    config: Dict, cfg, source: str, resnet_norm: str = "FrozenBN"
) -> List[str]:
    """Sets the model keys of ``cfg`` from a transformers ``config.json`` dict (``source``
    names it in errors); returns notes on training-only settings that do not carry over."""
    top = Fields(config, {}, source)
    architecture = top.expect(
        "model_type", list(MODEL_CLASSES), "the converter reads Mask2Former and MaskFormer"
    )
    declared = config.get("architectures")
    if declared and declared != [MODEL_CLASSES[architecture]]:
        raise ConversionError(
            f"{source}: architectures = {declared}; expected [{MODEL_CLASSES[architecture]!r}], "
            "the model with the segmentation heads"
        )
    labels = config.get("id2label")
    if not labels:
        raise ConversionError(f"{source}: no id2label; expected the class names")
    backbone_config = config.get("backbone_config")
    if backbone_config is None:
        if config.get("backbone") or config.get("use_timm_backbone"):
            raise ConversionError(
                f"{source}: the backbone is named ({config.get('backbone')!r}) instead of "
                "described by backbone_config; only transformers' own Swin and ResNet are "
                "supported"
            )
        backbone_config = {**_DEFAULT_BACKBONES[architecture], "out_features": _EVERY_STAGE}
    kind = backbone_config.get("model_type")
    where = f"{source} backbone_config"
    if architecture == "mask2former" and kind == "maskformer-swin":
        raise ConversionError(
            f"{where}: model_type = 'maskformer-swin' is MaskFormer's Swin; Mask2Former's is "
            "'swin' (transformers names their weights differently)"
        )
    if kind in SWIN_TYPES:
        swin_to_cfg(Fields(backbone_config, SWIN_DEFAULTS, where), cfg)
    elif kind == "resnet":
        resnet_to_cfg(Fields(backbone_config, RESNET_DEFAULTS, where), cfg, resnet_norm)
    else:
        raise ConversionError(
            f"{where}: model_type = {kind!r} is not supported (expected one of "
            f"{list(SWIN_TYPES) + ['resnet']}): this project builds Swin and ResNet backbones"
        )
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = len(labels)
    if architecture == "mask2former":
        return mask2former_to_cfg(Fields(config, MASK2FORMER_DEFAULTS, source), cfg, _strides(cfg))
    decoder = Fields(config.get("decoder_config") or {}, DETR_DEFAULTS, f"{source} decoder_config")
    return maskformer_to_cfg(Fields(config, MASKFORMER_DEFAULTS, source), decoder, cfg)


def transformers_config(cfg, class_names: Sequence[str]) -> Dict:
    """The transformers ``config.json`` dict of the model ``cfg`` builds."""
    architecture = architecture_of(cfg)
    if architecture == "mask2former":
        config = mask2former_from_cfg(cfg, _strides(cfg))
    else:
        config = maskformer_from_cfg(cfg, _res5_channels(cfg))
    if _is_swin(cfg):
        swin = cfg.MODEL.SWIN
        if swin.APE or not swin.PATCH_NORM or swin.QK_SCALE is not None:
            raise ConversionError(
                "MODEL.SWIN: APE, PATCH_NORM False and QK_SCALE have no transformers equivalent"
            )
        if list(swin.OUT_FEATURES) != ["res2", "res3", "res4", "res5"]:
            raise ConversionError(
                f"MODEL.SWIN.OUT_FEATURES {list(swin.OUT_FEATURES)}: the converter needs all four"
            )
        kind = "swin" if architecture == "mask2former" else "maskformer-swin"
        config["backbone_config"] = swin_from_cfg(cfg, kind)
    else:
        config["backbone_config"] = resnet_from_cfg(cfg)
    config["id2label"] = {str(i): name for i, name in enumerate(class_names)}
    config["label2id"] = {name: i for i, name in enumerate(class_names)}
    return config


def tensor_plan(cfg) -> TensorPlan:
    """The tensor correspondences of the model ``cfg`` builds (see :mod:`.tensor_plan`)."""
    architecture = architecture_of(cfg)
    if _is_swin(cfg):
        kind = "swin" if architecture == "mask2former" else "maskformer-swin"
        rules, unused = swin_rules(cfg, _BACKBONE_PREFIX, kind)
    elif cfg.MODEL.BACKBONE.NAME in ("build_resnet_backbone", "build_resnet_deeplab_backbone"):
        resnet_from_cfg(cfg)  # raises for what transformers' ResNet cannot represent
        rules, unused = resnet_rules(cfg, _BACKBONE_PREFIX)
    else:
        raise ConversionError(
            f"MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME!r}: transformers' Mask2Former and "
            "MaskFormer take Swin and ResNet backbones"
        )
    if architecture == "mask2former":
        rules += mask2former_rules(cfg, _strides(cfg))
    else:
        rules += maskformer_rules(cfg, _res5_channels(cfg))
    return TensorPlan(rules, unused)
