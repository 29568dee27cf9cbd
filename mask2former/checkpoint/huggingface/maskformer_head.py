"""MaskFormer's head: transformers' ``MaskFormerConfig`` (with a DETR ``decoder_config``) /
``MaskFormerForInstanceSegmentation`` against ``BasePixelDecoder`` +
``StandardTransformerDecoder``.

transformers' FPN names its levels from the coarsest: ``fpn.stem`` is the 3x3 conv on res5
(``layer_4`` here) and ``fpn.layers.{j}`` the lateral / output convs of the j-th finer level
(``adapter_{3-j}`` / ``layer_{3-j}``). Its DETR decoder is post-norm with queries starting at
zero, as MaskFormer's; it has three dropout rates where this project has one
(``MODEL.MASK_FORMER.DROPOUT``, used for all three).
"""

from functools import partial
from typing import List

from . import head_entries
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
_require = partial(head_entries.require, "MaskFormer")


def maskformer_to_cfg(config: Fields, decoder: Fields, cfg) -> List[str]:
    """Sets MODEL.SEM_SEG_HEAD and MODEL.MASK_FORMER; returns notes on settings that only
    training uses and this project cannot represent."""
    decoder.expect("model_type", ["detr"], "MaskFormer's transformer decoder is DETR's")
    decoder.expect("activation_function", ["relu"], "this project's decoder uses ReLU")
    decoder.expect("position_embedding_type", ["sine"], "this project uses sine positions")
    head_entries.set_fixed(
        cfg, "BasePixelDecoder", "StandardTransformerDecoder", head_entries.LEVELS[-1]
    )
    head_entries.to_cfg(cfg, "maskformer", config, decoder)
    mf = cfg.MODEL.MASK_FORMER
    mf.PRE_NORM = False
    mf.ENFORCE_INPUT_PROJ = False
    mf.TRAIN_NUM_POINTS = 0  # MaskFormer's full-resolution focal + dice losses
    notes = []
    for key in ("attention_dropout", "activation_dropout"):
        if float(decoder[key]) != mf.DROPOUT:
            notes.append(
                f"decoder_config.{key} = {decoder[key]}: this project uses dropout = "
                f"{mf.DROPOUT} there too (training only)"
            )
    return notes


def maskformer_from_cfg(cfg, in_channels: int) -> dict:
    """The top-level transformers config entries (without backbone and labels);
    ``in_channels``: the backbone's res5 channels."""
    mf = cfg.MODEL.MASK_FORMER
    hint = " (transformers' MaskFormer has the plain FPN pixel decoder only)"
    head_entries.check_fixed(cfg, "MaskFormer", "BasePixelDecoder", head_entries.LEVELS[-1], hint)
    _require(mf.ENC_LAYERS == 0, f"MODEL.MASK_FORMER.ENC_LAYERS {mf.ENC_LAYERS}")
    _require(not mf.PRE_NORM, "MODEL.MASK_FORMER.PRE_NORM True")
    _require(
        not mf.ENFORCE_INPUT_PROJ or in_channels != mf.HIDDEN_DIM,
        "MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ with equal widths",
    )
    config = head_entries.from_cfg(cfg, "maskformer")
    config["decoder_config"].update(
        model_type="detr",
        attention_dropout=mf.DROPOUT,
        activation_dropout=mf.DROPOUT,
        activation_function="relu",
        position_embedding_type="sine",
    )
    return {
        "model_type": "maskformer",
        "architectures": ["MaskFormerForInstanceSegmentation"],
        **config,
    }


def maskformer_rules(cfg, in_channels: int) -> list:
    """Rules between the head (``sem_seg_head.*``, ``criterion.*``) and transformers'."""
    mf = cfg.MODEL.MASK_FORMER
    ours, theirs = head_entries.PIXEL_DECODER
    levels = len(head_entries.LEVELS)
    rules = head_entries.conv_norm(f"{ours}layer_{levels}", theirs + "fpn.stem")
    for j in range(levels - 1):
        k, t = levels - 1 - j, f"{theirs}fpn.layers.{j}."
        rules += head_entries.conv_norm(f"{ours}adapter_{k}", t + "proj")
        rules += head_entries.conv_norm(f"{ours}layer_{k}", t + "block")
    rules += copies(ours + "mask_features", theirs + "mask_projection")

    ours, theirs = head_entries.PREDICTOR
    rules += copies(ours + "query_embed", theirs + "queries_embedder", ("weight",))
    if in_channels != mf.HIDDEN_DIM:
        rules += copies(ours + "input_proj", theirs + "input_projection")
    for layer in range(mf.DEC_LAYERS):
        o, t = f"{ours}transformer.decoder.layers.{layer}.", f"{theirs}decoder.layers.{layer}."
        rules += attention_from_qkv(o + "self_attn", t + "self_attn")
        rules += attention_from_qkv(o + "multihead_attn", t + "encoder_attn")
        rules += head_entries.feed_forward(o, t)
        for norm, their_norm in enumerate(("self_attn", "encoder_attn", "final"), start=1):
            rules += copies(f"{o}norm{norm}", f"{t}{their_norm}_layer_norm")
    rules += copies(ours + "transformer.decoder.norm", theirs + "decoder.layernorm")
    return rules + head_entries.prediction_rules("mask_embedder")
