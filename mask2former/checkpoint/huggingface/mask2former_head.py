"""Mask2Former's head: transformers' ``Mask2FormerConfig`` / ``Mask2FormerForUniversalSegmentation``
against ``MSDeformAttnPixelDecoder`` + ``MultiScaleMaskedTransformerDecoder``.

Config semantics that differ in name only: ``decoder_layers`` counts the prediction from the
learnable queries, as ``MODEL.MASK_FORMER.DEC_LAYERS`` does (both build DEC_LAYERS - 1 masked
attention layers); ``num_attention_heads`` sets the heads of both the deformable encoder and the
decoder (two keys here); ``feature_size`` / ``mask_feature_size`` are ``CONVS_DIM`` /
``MASK_DIM``; ``encoder_layers`` is ``TRANSFORMER_ENC_LAYERS``.
"""

import math
from functools import partial
from typing import List

from . import head_entries
from .errors import ConversionError
from .fields import Fields
from .tensor_plan import Copy, attention_from_qkv, copies

__all__ = [
    "MASK2FORMER_DEFAULTS",
    "mask2former_to_cfg",
    "mask2former_from_cfg",
    "mask2former_rules",
]

# Mask2FormerConfig defaults for keys a config.json may leave out
MASK2FORMER_DEFAULTS = {
    "feature_size": 256,
    "mask_feature_size": 256,
    "hidden_dim": 256,
    "encoder_feedforward_dim": 1024,
    "activation_function": "relu",
    "encoder_layers": 6,
    "decoder_layers": 10,
    "num_attention_heads": 8,
    "dropout": 0.0,
    "dim_feedforward": 2048,
    "pre_norm": False,
    "enforce_input_projection": False,
    "common_stride": 4,
    "ignore_value": 255,
    "num_queries": 100,
    "no_object_weight": 0.1,
    "class_weight": 2.0,
    "mask_weight": 5.0,
    "dice_weight": 5.0,
    "train_num_points": 12544,
    "oversample_ratio": 3.0,
    "importance_sample_ratio": 0.75,
    "use_auxiliary_loss": True,
    "feature_strides": [4, 8, 16, 32],
}
_TRANSFORMER_DECODER = "MultiScaleMaskedTransformerDecoder"
_DECODER_IN = "multi_scale_pixel_decoder"  # the pixel decoder's multi-scale features
_require = partial(head_entries.require, "Mask2Former")


def mask2former_to_cfg(config: Fields, cfg, strides: List[int]) -> List[str]:
    """Sets MODEL.SEM_SEG_HEAD and MODEL.MASK_FORMER; returns notes on settings that only
    training uses and this project cannot represent. ``strides``: the backbone's."""
    config.expect("activation_function", ["relu"], "this project's decoders use ReLU")
    config.expect(
        "encoder_feedforward_dim",
        [1024],
        "this project's MSDeformAttnPixelDecoder has the published model's 1024",
    )
    config.expect("feature_strides", [strides], "they must be the backbone's strides")
    if int(config["decoder_layers"]) < 1:
        raise ConversionError(f"{config.where}: decoder_layers must be >= 1")
    head_entries.set_fixed(cfg, "MSDeformAttnPixelDecoder", _TRANSFORMER_DECODER, _DECODER_IN)
    head_entries.to_cfg(cfg, "mask2former", config)
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = head_entries.LEVELS[1:]
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = mf.NHEADS
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 4
    notes = []
    if mf.DROPOUT:
        notes.append(
            f"dropout = {mf.DROPOUT}: this project applies it in the pixel decoder's encoder "
            "only, not in the masked-attention decoder (training only)"
        )
    return notes


def mask2former_from_cfg(cfg, strides: List[int]) -> dict:
    """The top-level transformers config entries (without backbone and labels)."""
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    head_entries.check_fixed(cfg, "Mask2Former", "MSDeformAttnPixelDecoder", _DECODER_IN)
    _require(
        list(head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES) == head_entries.LEVELS[1:],
        "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES "
        f"{head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES}",
    )
    _require(
        head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS == 4,
        f"DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS {head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS}",
    )
    _require(
        head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS == mf.NHEADS,
        f"encoder heads {head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS} != decoder heads "
        f"{mf.NHEADS} (one num_attention_heads there)",
    )
    return {
        "model_type": "mask2former",
        "architectures": ["Mask2FormerForUniversalSegmentation"],
        "encoder_feedforward_dim": 1024,
        "activation_function": "relu",
        "feature_strides": list(strides),
        **head_entries.from_cfg(cfg, "mask2former"),
    }


def mask2former_rules(cfg, strides: List[int]) -> list:
    """Rules between the head (``sem_seg_head.*``, ``criterion.*``) and transformers'."""
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    ours, theirs = head_entries.PIXEL_DECODER
    rules = [Copy(ours + "transformer.level_embed", theirs + "level_embed")]
    for k in range(3):
        rules += copies(f"{ours}input_proj.{k}.0", f"{theirs}input_projections.{k}.0")
        rules += copies(f"{ours}input_proj.{k}.1", f"{theirs}input_projections.{k}.1")
    for layer in range(head.TRANSFORMER_ENC_LAYERS):
        o, t = f"{ours}transformer.encoder.layers.{layer}.", f"{theirs}encoder.layers.{layer}."
        for name in ("sampling_offsets", "attention_weights", "value_proj", "output_proj"):
            rules += copies(f"{o}self_attn.{name}", f"{t}self_attn.{name}")
        rules += copies(o + "norm1", t + "self_attn_layer_norm")
        rules += head_entries.feed_forward(o, t)
        rules += copies(o + "norm2", t + "final_layer_norm")
    rules += copies(ours + "mask_features", theirs + "mask_projection")
    num_fpn_levels = int(math.log2(strides[1]) - math.log2(head.COMMON_STRIDE))
    for k in range(1, num_fpn_levels + 1):
        for name in (f"adapter_{k}", f"layer_{k}"):
            rules += head_entries.conv_norm(ours + name, theirs + name)

    ours, theirs = head_entries.PREDICTOR
    rules += copies(ours + "query_embed", theirs + "queries_embedder", ("weight",))
    rules += copies(ours + "query_feat", theirs + "queries_features", ("weight",))
    rules += copies(ours + "level_embed", theirs + "level_embed", ("weight",))
    if head.CONVS_DIM != mf.HIDDEN_DIM or mf.ENFORCE_INPUT_PROJ:
        for k in range(3):
            rules += copies(f"{ours}input_proj.{k}", f"{theirs}input_projections.{k}")
    for layer in range(mf.DEC_LAYERS - 1):
        t = f"{theirs}decoder.layers.{layer}."
        self_attn = f"{ours}transformer_self_attention_layers.{layer}."
        cross_attn = f"{ours}transformer_cross_attention_layers.{layer}."
        ffn = f"{ours}transformer_ffn_layers.{layer}."
        rules += attention_from_qkv(self_attn + "self_attn", t + "self_attn")
        rules += copies(self_attn + "norm", t + "self_attn_layer_norm")
        rules += copies(
            cross_attn + "multihead_attn", t + "cross_attn", ("in_proj_weight", "in_proj_bias")
        )
        rules += copies(cross_attn + "multihead_attn.out_proj", t + "cross_attn.out_proj")
        rules += copies(cross_attn + "norm", t + "cross_attn_layer_norm")
        rules += head_entries.feed_forward(ffn, t)
        rules += copies(ffn + "norm", t + "final_layer_norm")
    rules += copies(ours + "decoder_norm", theirs + "decoder.layernorm")
    return rules + head_entries.prediction_rules(theirs + "decoder.mask_predictor.mask_embedder")
