"""Swin Transformer backbones: transformers' ``SwinConfig`` (Mask2Former's backbone) and
``MaskFormerSwinConfig`` (MaskFormer's) against ``MODEL.SWIN`` and ``D2SwinTransformer``.

The two transformers implementations compute what the published Swin computes (windows padded,
shifted and masked alike, patch merging in the same channel order), and keep different names:

- ``SwinBackbone`` (model_type "swin"): ``embeddings.*`` and ``encoder.layers.*`` under the
  backbone, stage norms ``hidden_states_norms.stage{i+1}``, an unused final ``swin.layernorm``,
  no relative position index in files written by transformers 5 (4.x files hold one);
- ``MaskFormerSwinBackbone`` ("maskformer-swin"): the same under ``model.``, stage norms
  ``hidden_states_norms.{i}``, an unused final ``model.layernorm``, with the index.
"""

from typing import Tuple

import torch

from ...modeling.backbone.window_attention import relative_position_index
from .fields import Fields, stage_features
from .tensor_plan import Concat, Copy, Derived, TransformersOnly, copies

__all__ = ["SWIN_TYPES", "SWIN_DEFAULTS", "swin_to_cfg", "swin_from_cfg", "swin_rules"]

SWIN_TYPES = ("swin", "maskformer-swin")
# SwinConfig / MaskFormerSwinConfig defaults for keys a config.json may leave out
SWIN_DEFAULTS = {
    "image_size": 224,
    "patch_size": 4,
    "num_channels": 3,
    "embed_dim": 96,
    "depths": [2, 2, 6, 2],
    "num_heads": [3, 6, 12, 24],
    "window_size": 7,
    "mlp_ratio": 4.0,
    "qkv_bias": True,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "drop_path_rate": 0.1,
    "hidden_act": "gelu",
    "use_absolute_embeddings": False,
    "layer_norm_eps": 1e-5,
}

# transformers' config keys that carry over one to one: (MODEL.SWIN key, its type)
_CARRIED = {
    "embed_dim": ("EMBED_DIM", int),
    "window_size": ("WINDOW_SIZE", int),
    "mlp_ratio": ("MLP_RATIO", float),
    "qkv_bias": ("QKV_BIAS", bool),
    "hidden_dropout_prob": ("DROP_RATE", float),
    "attention_probs_dropout_prob": ("ATTN_DROP_RATE", float),
    "drop_path_rate": ("DROP_PATH_RATE", float),
}


def swin_to_cfg(backbone: Fields, cfg) -> None:
    """Sets MODEL.BACKBONE.NAME and MODEL.SWIN from a transformers Swin config."""
    backbone.expect("hidden_act", ["gelu"], "this project's Swin uses GELU")
    backbone.expect("layer_norm_eps", [1e-5], "this project's Swin LayerNorms use eps 1e-5")
    backbone.expect("num_channels", [3], "the models take RGB images")
    backbone.expect(
        "use_absolute_embeddings",
        [False],
        "no published Mask2Former or MaskFormer model uses Swin's absolute position embedding, "
        "and the two implementations interpolate it differently",
    )
    depths = [int(d) for d in backbone["depths"]]
    stage_features(backbone, len(depths))
    swin = cfg.MODEL.SWIN
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    for theirs, (ours, kind) in _CARRIED.items():
        setattr(swin, ours, kind(backbone[theirs]))
    swin.DEPTHS = depths
    swin.NUM_HEADS = [int(h) for h in backbone["num_heads"]]
    swin.PATCH_SIZE = backbone.square("patch_size")
    # the pretraining image size only shapes the absolute position embedding (not used)
    swin.PRETRAIN_IMG_SIZE = backbone.square("image_size")
    swin.QK_SCALE = None
    swin.APE = False
    swin.PATCH_NORM = True
    swin.OUT_FEATURES = [f"res{i + 2}" for i in range(len(depths))]


def swin_from_cfg(cfg, model_type: str) -> dict:
    """The transformers backbone_config of MODEL.SWIN (``model_type`` "swin" or
    "maskformer-swin")."""
    swin = cfg.MODEL.SWIN
    stages = [f"stage{i + 1}" for i in range(len(swin.DEPTHS))]
    return {
        "model_type": model_type,
        "image_size": swin.PRETRAIN_IMG_SIZE,
        "patch_size": swin.PATCH_SIZE,
        "num_channels": 3,
        "depths": list(swin.DEPTHS),
        "num_heads": list(swin.NUM_HEADS),
        **{theirs: getattr(swin, ours) for theirs, (ours, _) in _CARRIED.items()},
        "hidden_act": "gelu",
        "use_absolute_embeddings": False,
        "layer_norm_eps": 1e-5,
        "out_features": stages,
        "out_indices": list(range(1, len(stages) + 1)),
    }


def swin_rules(cfg, prefix: str, model_type: str) -> Tuple[list, list]:
    """Rules (see :mod:`.tensor_plan`) between ``backbone.*`` and a transformers Swin backbone
    stored under ``prefix`` ("model.pixel_level_module.encoder.")."""
    swin = cfg.MODEL.SWIN
    maskformer_swin = model_type == "maskformer-swin"
    body = prefix + ("model." if maskformer_swin else "")
    index = relative_position_index(swin.WINDOW_SIZE)
    rules = copies("backbone.patch_embed.norm", body + "embeddings.norm")
    rules += copies("backbone.patch_embed.proj", body + "embeddings.patch_embeddings.projection")
    for i, depth in enumerate(swin.DEPTHS):
        for j in range(depth):
            ours = f"backbone.layers.{i}.blocks.{j}"
            theirs = f"{body}encoder.layers.{i}.blocks.{j}"
            rules += copies(f"{ours}.norm1", f"{theirs}.layernorm_before")
            rules += copies(f"{ours}.norm2", f"{theirs}.layernorm_after")
            rules.append(
                Copy(
                    f"{ours}.attn.relative_position_bias_table",
                    f"{theirs}.attention.self.relative_position_bias_table",
                )
            )
            rules.append(
                Derived(
                    f"{ours}.attn.relative_position_index",
                    f"{theirs}.attention.self.relative_position_index",
                    value=index.clone,
                    written=maskformer_swin,
                )
            )
            params = ("weight", "bias") if swin.QKV_BIAS else ("weight",)
            rules += [
                Concat(
                    f"{ours}.attn.qkv.{p}",
                    tuple(f"{theirs}.attention.self.{n}.{p}" for n in ("query", "key", "value")),
                )
                for p in params
            ]
            for ours_name, theirs_name in (
                ("attn.proj", "attention.output.dense"),
                ("mlp.fc1", "intermediate.dense"),
                ("mlp.fc2", "output.dense"),
            ):
                rules += copies(f"{ours}.{ours_name}", f"{theirs}.{theirs_name}")
        if i < len(swin.DEPTHS) - 1:
            merge = f"{body}encoder.layers.{i}.downsample"
            rules += copies(
                f"backbone.layers.{i}.downsample.reduction", f"{merge}.reduction", ("weight",)
            )
            rules += copies(f"backbone.layers.{i}.downsample.norm", f"{merge}.norm")
        norm = f"{i}" if maskformer_swin else f"stage{i + 1}"
        rules += copies(f"backbone.norm{i}", f"{prefix}hidden_states_norms.{norm}")

    width = swin.EMBED_DIM * 2 ** (len(swin.DEPTHS) - 1)
    final_norm = prefix + ("model.layernorm" if maskformer_swin else "swin.layernorm")
    unused = [
        TransformersOnly(f"{final_norm}.weight", lambda: torch.ones(width)),
        TransformersOnly(f"{final_norm}.bias", lambda: torch.zeros(width)),
    ]
    return rules, unused
