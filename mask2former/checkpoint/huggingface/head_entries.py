"""What the converters of the two heads (:mod:`.maskformer_head`, :mod:`.mask2former_head`)
share: the settings both transformers models fix, the config entries that carry over one to
one, and the weights laid out alike (FPN convs, prediction layers)."""

from typing import NamedTuple, Optional

from .errors import ConversionError
from .fields import Fields
from .tensor_plan import copies

__all__ = [
    "LEVELS",
    "PIXEL_DECODER",
    "PREDICTOR",
    "from_cfg",
    "to_cfg",
    "require",
    "set_fixed",
    "check_fixed",
    "conv_norm",
    "feed_forward",
    "prediction_rules",
]

LEVELS = ["res2", "res3", "res4", "res5"]  # the backbone features both pixel decoders read
# (our prefix, transformers' prefix) of the pixel decoder's and the transformer decoder's weights
PIXEL_DECODER = ("sem_seg_head.pixel_decoder.", "model.pixel_level_module.decoder.")
PREDICTOR = ("sem_seg_head.predictor.", "model.transformer_module.")
_DECODER = "decoder_config."


class Entry(NamedTuple):
    """A key under ``cfg.MODEL`` and its transformers config key in each architecture (None:
    the architecture has none; MaskFormer's ``decoder_config.*`` are its DETR decoder's)."""

    ours: str
    maskformer: Optional[str]
    mask2former: Optional[str]
    kind: type


ENTRIES = (
    Entry("SEM_SEG_HEAD.CONVS_DIM", "fpn_feature_size", "feature_size", int),
    Entry("SEM_SEG_HEAD.MASK_DIM", "mask_feature_size", "mask_feature_size", int),
    Entry("SEM_SEG_HEAD.COMMON_STRIDE", None, "common_stride", int),
    Entry("SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", None, "encoder_layers", int),
    Entry("SEM_SEG_HEAD.IGNORE_VALUE", None, "ignore_value", int),
    Entry("MASK_FORMER.HIDDEN_DIM", _DECODER + "d_model", "hidden_dim", int),
    Entry("MASK_FORMER.NUM_OBJECT_QUERIES", _DECODER + "num_queries", "num_queries", int),
    Entry("MASK_FORMER.NHEADS", _DECODER + "decoder_attention_heads", "num_attention_heads", int),
    Entry("MASK_FORMER.DIM_FEEDFORWARD", _DECODER + "decoder_ffn_dim", "dim_feedforward", int),
    Entry("MASK_FORMER.DEC_LAYERS", _DECODER + "decoder_layers", "decoder_layers", int),
    Entry("MASK_FORMER.PRE_NORM", None, "pre_norm", bool),
    Entry("MASK_FORMER.ENFORCE_INPUT_PROJ", None, "enforce_input_projection", bool),
    Entry("MASK_FORMER.DROPOUT", _DECODER + "dropout", "dropout", float),
    Entry("MASK_FORMER.DEEP_SUPERVISION", "use_auxiliary_loss", "use_auxiliary_loss", bool),
    Entry("MASK_FORMER.NO_OBJECT_WEIGHT", "no_object_weight", "no_object_weight", float),
    Entry("MASK_FORMER.CLASS_WEIGHT", "cross_entropy_weight", "class_weight", float),
    Entry("MASK_FORMER.MASK_WEIGHT", "mask_weight", "mask_weight", float),
    Entry("MASK_FORMER.DICE_WEIGHT", "dice_weight", "dice_weight", float),
    Entry("MASK_FORMER.TRAIN_NUM_POINTS", None, "train_num_points", int),
    Entry("MASK_FORMER.OVERSAMPLE_RATIO", None, "oversample_ratio", float),
    Entry("MASK_FORMER.IMPORTANCE_SAMPLE_RATIO", None, "importance_sample_ratio", float),
)


def _node_and_key(cfg, ours: str):
    node, key = ours.split(".")
    return getattr(cfg.MODEL, node), key


def _keys(architecture: str):
    """(entry, transformers key) of ``architecture`` ("maskformer" or "mask2former")."""
    return [(e, getattr(e, architecture)) for e in ENTRIES if getattr(e, architecture)]


def to_cfg(cfg, architecture: str, config: Fields, decoder: Optional[Fields] = None):
    """Sets the ``cfg.MODEL`` keys of :data:`ENTRIES` from ``config`` (and MaskFormer's
    ``decoder`` config)."""
    for entry, theirs in _keys(architecture):
        source = config
        if theirs.startswith(_DECODER):
            source, theirs = decoder, theirs[len(_DECODER) :]
        node, key = _node_and_key(cfg, entry.ours)
        setattr(node, key, entry.kind(source[theirs]))


def from_cfg(cfg, architecture: str) -> dict:
    """The transformers config entries of :data:`ENTRIES` (MaskFormer's decoder ones under
    ``decoder_config``)."""
    config = {}
    for entry, theirs in _keys(architecture):
        target = config
        if theirs.startswith(_DECODER):
            target, theirs = config.setdefault("decoder_config", {}), theirs[len(_DECODER) :]
        node, key = _node_and_key(cfg, entry.ours)
        target[theirs] = getattr(node, key)
    return config


def require(model: str, ok: bool, what: str):
    """Raises the one error for a setting transformers' ``model`` has no counterpart of."""
    if not ok:
        raise ConversionError(f"{what}; transformers' {model} cannot represent it")


def set_fixed(cfg, pixel_decoder: str, decoder: str, in_feature: str):
    """Sets what transformers' model fixes: its pixel decoder, transformer decoder and the
    decoder's input feature, every backbone level in, GroupNorm, no extra encoder."""
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    head.NAME = "MaskFormerHead"
    head.PIXEL_DECODER_NAME = pixel_decoder
    head.IN_FEATURES = list(LEVELS)
    head.NORM = "GN"
    mf.TRANSFORMER_DECODER_NAME = decoder
    mf.TRANSFORMER_IN_FEATURE = in_feature
    mf.ENC_LAYERS = 0


def check_fixed(cfg, model: str, pixel_decoder: str, in_feature: str, hint: str = ""):
    """Raises unless ``cfg`` has what :func:`set_fixed` sets (but the transformer decoder
    and ENC_LAYERS, which only MaskFormer's decoder reads); ``hint`` follows the message of a
    different pixel decoder."""
    head, mf = cfg.MODEL.SEM_SEG_HEAD, cfg.MODEL.MASK_FORMER
    require(model, head.NAME == "MaskFormerHead", f"MODEL.SEM_SEG_HEAD.NAME {head.NAME!r}")
    require(
        model,
        head.PIXEL_DECODER_NAME == pixel_decoder,
        f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME {head.PIXEL_DECODER_NAME!r}{hint}",
    )
    require(
        model,
        list(head.IN_FEATURES) == LEVELS,
        f"MODEL.SEM_SEG_HEAD.IN_FEATURES {head.IN_FEATURES}",
    )
    require(
        model,
        mf.TRANSFORMER_IN_FEATURE == in_feature,
        f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE {mf.TRANSFORMER_IN_FEATURE!r}",
    )
    require(model, head.NORM == "GN", f"MODEL.SEM_SEG_HEAD.NORM {head.NORM!r}")


def conv_norm(ours: str, theirs: str) -> list:
    """Rules for a Detectron2 ``Conv2d`` with a norm (``ours.weight``, ``ours.norm``) against
    a ``Sequential(conv without bias, norm)``."""
    return copies(ours, theirs + ".0", ("weight",)) + copies(ours + ".norm", theirs + ".1")


def feed_forward(ours: str, theirs: str) -> list:
    """Rules for a transformer layer's two feed-forward linears (``linear1``, ``linear2`` under
    the prefix ``ours``) against transformers' ``fc1``, ``fc2``."""
    return copies(ours + "linear1", theirs + "fc1") + copies(ours + "linear2", theirs + "fc2")


def prediction_rules(mask_embedder: str) -> list:
    """Rules for the predictor's class and mask-embedding layers (``mask_embedder``: the
    prefix of transformers' three mask MLP layers) and the criterion's no-object weight."""
    ours = PREDICTOR[0]
    rules = []
    for i in range(3):
        rules += copies(f"{ours}mask_embed.layers.{i}", f"{mask_embedder}.{i}.0")
    rules += copies(ours + "class_embed", "class_predictor")
    rules += copies("criterion", "criterion", ("empty_weight",))
    return rules
