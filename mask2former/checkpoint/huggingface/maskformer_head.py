"""MaskFormer's head: transformers' ``MaskFormerConfig`` (with a DETR ``decoder_config``) /
``MaskFormerForInstanceSegmentation`` against ``BasePixelDecoder`` +
``StandardTransformerDecoder``.

transformers' FPN names its levels from the coarsest: ``fpn.stem`` is the 3x3 conv on res5
(``layer_4`` here) and ``fpn.layers.{j}`` the lateral / output convs of the j-th finer level
(``adapter_{3-j}`` / ``layer_{3-j}``). Its DETR decoder is post-norm with queries starting at
zero, as MaskFormer's; it has three dropout rates where this project has one
(``MODEL.MASK_FORMER.DROPOUT``, used for all three).
"""

from typing import List

from .errors import ConversionError
from .fields import Fields
from .tensor_plan import attention_from_qkv, copies

__all__ = [
    "MASKFORMER_DEFAULTS",
    "DETR_DEFAULTS",
    "maskformer_to_cfg",
    "maskformer_from_cfg",
    "maskformer_rules",
]

# MaskFormerConfig and its DETR decoder_config defaults for keys a config.json may leave out
MASKFORMER_DEFAULTS = {
    "fpn_feature_size": 256,
    "mask_feature_size": 256,
    "no_object_weight": 0.1,
    "use_auxiliary_loss": False,
    "dice_weight": 1.0,
    "cross_entropy_weight": 1.0,
    "mask_weight": 20.0,
}
DETR_DEFAULTS = {
    "model_type": "detr",
    "d_model": 256,
    "decoder_layers": 6,
    "decoder_ffn_dim": 2048,
    "decoder_attention_heads": 8,
    "num_queries": 100,
    "dropout": 0.1,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "activation_function": "relu",
    "position_embedding_type": "sine",
}
_LEVELS = ["res2", "res3", "res4", "res5"]


def maskformer_to_cfg(config: Fields, decoder: Fields, cfg) -> List[str]:
    """Sets MODEL.SEM_SEG_HEAD and MODEL.MASK_FORMER; returns notes on settings that only
    training uses and this project cannot represent."""
    decoder.expect("model_type", ["detr"], "MaskFormer's transformer decoder is DETR's")
    decoder.expect("activation_function", ["relu"], "this project's decoder uses ReLU")
    decoder.expect("position_embedding_type", ["sine"], "this project uses sine positions")
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    head.NAME = "MaskFormerHead"
    head.PIXEL_DECODER_NAME = "BasePixelDecoder"
    head.IN_FEATURES = list(_LEVELS)
    head.CONVS_DIM = int(config["fpn_feature_size"])
    head.MASK_DIM = int(config["mask_feature_size"])
    head.NORM = "GN"
    mf.TRANSFORMER_DECODER_NAME = "StandardTransformerDecoder"
    mf.TRANSFORMER_IN_FEATURE = _LEVELS[-1]
    mf.HIDDEN_DIM = int(decoder["d_model"])
    mf.NUM_OBJECT_QUERIES = int(decoder["num_queries"])
    mf.NHEADS = int(decoder["decoder_attention_heads"])
    mf.DIM_FEEDFORWARD = int(decoder["decoder_ffn_dim"])
    mf.DEC_LAYERS = int(decoder["decoder_layers"])
    mf.ENC_LAYERS = 0
    mf.PRE_NORM = False
    mf.ENFORCE_INPUT_PROJ = False
    mf.DROPOUT = float(decoder["dropout"])
    mf.DEEP_SUPERVISION = bool(config["use_auxiliary_loss"])
    mf.NO_OBJECT_WEIGHT = float(config["no_object_weight"])
    mf.CLASS_WEIGHT = float(config["cross_entropy_weight"])
    mf.MASK_WEIGHT = float(config["mask_weight"])
    mf.DICE_WEIGHT = float(config["dice_weight"])
    mf.TRAIN_NUM_POINTS = 0  # MaskFormer's full-resolution focal + dice losses
    notes = []
    for key in ("attention_dropout", "activation_dropout"):
        if float(decoder[key]) != mf.DROPOUT:
            notes.append(
                f"decoder_config.{key} = {decoder[key]}: this project uses dropout = "
                f"{mf.DROPOUT} there too (training only)"
            )
    return notes


def _require(ok: bool, what: str):
    if not ok:
        raise ConversionError(f"{what}; transformers' MaskFormer cannot represent it")


def maskformer_from_cfg(cfg, in_channels: int) -> dict:
    """The top-level transformers config entries (without backbone and labels);
    ``in_channels``: the backbone's res5 channels."""
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    _require(head.NAME == "MaskFormerHead", f"MODEL.SEM_SEG_HEAD.NAME {head.NAME!r}")
    _require(
        head.PIXEL_DECODER_NAME == "BasePixelDecoder",
        f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME {head.PIXEL_DECODER_NAME!r} (transformers' "
        "MaskFormer has the plain FPN pixel decoder only)",
    )
    _require(
        list(head.IN_FEATURES) == _LEVELS, f"MODEL.SEM_SEG_HEAD.IN_FEATURES {head.IN_FEATURES}"
    )
    _require(
        mf.TRANSFORMER_IN_FEATURE == _LEVELS[-1],
        f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE {mf.TRANSFORMER_IN_FEATURE!r}",
    )
    _require(mf.ENC_LAYERS == 0, f"MODEL.MASK_FORMER.ENC_LAYERS {mf.ENC_LAYERS}")
    _require(not mf.PRE_NORM, "MODEL.MASK_FORMER.PRE_NORM True")
    _require(
        not mf.ENFORCE_INPUT_PROJ or in_channels != mf.HIDDEN_DIM,
        "MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ with equal widths",
    )
    _require(head.NORM == "GN", f"MODEL.SEM_SEG_HEAD.NORM {head.NORM!r}")
    return {
        "model_type": "maskformer",
        "architectures": ["MaskFormerForInstanceSegmentation"],
        "fpn_feature_size": head.CONVS_DIM,
        "mask_feature_size": head.MASK_DIM,
        "no_object_weight": mf.NO_OBJECT_WEIGHT,
        "use_auxiliary_loss": mf.DEEP_SUPERVISION,
        "dice_weight": mf.DICE_WEIGHT,
        "cross_entropy_weight": mf.CLASS_WEIGHT,
        "mask_weight": mf.MASK_WEIGHT,
        "decoder_config": {
            "model_type": "detr",
            "d_model": mf.HIDDEN_DIM,
            "decoder_layers": mf.DEC_LAYERS,
            "decoder_ffn_dim": mf.DIM_FEEDFORWARD,
            "decoder_attention_heads": mf.NHEADS,
            "num_queries": mf.NUM_OBJECT_QUERIES,
            "dropout": mf.DROPOUT,
            "attention_dropout": mf.DROPOUT,
            "activation_dropout": mf.DROPOUT,
            "activation_function": "relu",
            "position_embedding_type": "sine",
        },
    }


def maskformer_rules(cfg, in_channels: int) -> list:
    """Rules between the head (``sem_seg_head.*``, ``criterion.*``) and transformers'."""
    mf = cfg.MODEL.MASK_FORMER
    ours, theirs = "sem_seg_head.pixel_decoder.", "model.pixel_level_module.decoder."
    levels = len(_LEVELS)
    rules = copies(f"{ours}layer_{levels}", theirs + "fpn.stem.0", ("weight",))
    rules += copies(f"{ours}layer_{levels}.norm", theirs + "fpn.stem.1")
    for j in range(levels - 1):
        k, t = levels - 1 - j, f"{theirs}fpn.layers.{j}."
        rules += copies(f"{ours}adapter_{k}", t + "proj.0", ("weight",))
        rules += copies(f"{ours}adapter_{k}.norm", t + "proj.1")
        rules += copies(f"{ours}layer_{k}", t + "block.0", ("weight",))
        rules += copies(f"{ours}layer_{k}.norm", t + "block.1")
    rules += copies(ours + "mask_features", theirs + "mask_projection")

    ours, theirs = "sem_seg_head.predictor.", "model.transformer_module."
    rules += copies(ours + "query_embed", theirs + "queries_embedder", ("weight",))
    if in_channels != mf.HIDDEN_DIM:
        rules += copies(ours + "input_proj", theirs + "input_projection")
    for layer in range(mf.DEC_LAYERS):
        o, t = f"{ours}transformer.decoder.layers.{layer}.", f"{theirs}decoder.layers.{layer}."
        rules += attention_from_qkv(o + "self_attn", t + "self_attn")
        rules += attention_from_qkv(o + "multihead_attn", t + "encoder_attn")
        for o_name, t_name in (
            ("linear1", "fc1"),
            ("linear2", "fc2"),
            ("norm1", "self_attn_layer_norm"),
            ("norm2", "encoder_attn_layer_norm"),
            ("norm3", "final_layer_norm"),
        ):
            rules += copies(o + o_name, t + t_name)
    rules += copies(ours + "transformer.decoder.norm", theirs + "decoder.layernorm")
    for i in range(3):
        rules += copies(f"{ours}mask_embed.layers.{i}", f"mask_embedder.{i}.0")
    rules += copies(ours + "class_embed", "class_predictor")
    rules += copies("criterion", "criterion", ("empty_weight",))
    return rules
