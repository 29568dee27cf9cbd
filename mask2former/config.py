"""Config keys of MaskFormer and Mask2Former, with the defaults of the published releases.

``add_maskformer2_config(cfg)`` is the public entry point (same name as the published code).
It also adds DeepLab's keys (``MODEL.RESNETS.STEM_TYPE``, ``SOLVER.POLY_LR_*``, ...) when they
are missing, because the R101c configs and the WarmupPolyLR schedule use them.
``merge_config(cfg, file, opts)`` merges a config file and command-line overrides, naming the
file (or the command line) that sets an unknown key, and registers the categories files that
DATASETS.TRAIN / DATASETS.TEST name (metadata-only datasets, see
:mod:`mask2former.data.datasets.metadata_file`).
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from detectron2.config import CfgNode as CN
from detectron2.projects.deeplab import add_deeplab_config

from .config_checks import ConfigValueError, validate_config
from .config_file import ConfigFileError, merge_config_file
from .data.datasets.metadata_file import METADATA_FILE_SUFFIX, register_metadata_file
from .errors import UserError

__all__ = [
    "ConfigFileError",
    "ConfigKeyError",
    "ConfigValueError",
    "add_maskformer2_config",
    "merge_config",
]


def add_maskformer2_config(cfg: CN) -> None:
    """Add every key that the MaskFormer and Mask2Former config files use, in place."""
    if not hasattr(cfg.SOLVER, "POLY_LR_POWER"):
        add_deeplab_config(cfg)

    # data
    cfg.INPUT.DATASET_MAPPER_NAME = "mask_former_semantic"
    cfg.INPUT.COLOR_AUG_SSD = False
    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0
    cfg.INPUT.SIZE_DIVISIBILITY = -1
    # large-scale jittering (coco_*_lsj mappers)
    cfg.INPUT.IMAGE_SIZE = 1024
    cfg.INPUT.MIN_SCALE = 0.1
    cfg.INPUT.MAX_SCALE = 2.0

    # solver
    cfg.SOLVER.WEIGHT_DECAY_EMBED = 0.0
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1

    # mask classification head
    cfg.MODEL.MASK_FORMER = CN()
    cfg.MODEL.MASK_FORMER.DEEP_SUPERVISION = True
    cfg.MODEL.MASK_FORMER.NO_OBJECT_WEIGHT = 0.1
    cfg.MODEL.MASK_FORMER.CLASS_WEIGHT = 1.0
    cfg.MODEL.MASK_FORMER.DICE_WEIGHT = 1.0
    cfg.MODEL.MASK_FORMER.MASK_WEIGHT = 20.0
    cfg.MODEL.MASK_FORMER.NHEADS = 8
    cfg.MODEL.MASK_FORMER.DROPOUT = 0.1
    cfg.MODEL.MASK_FORMER.DIM_FEEDFORWARD = 2048
    cfg.MODEL.MASK_FORMER.ENC_LAYERS = 0
    cfg.MODEL.MASK_FORMER.DEC_LAYERS = 6
    cfg.MODEL.MASK_FORMER.PRE_NORM = False
    cfg.MODEL.MASK_FORMER.HIDDEN_DIM = 256
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 100
    cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE = "res5"
    cfg.MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ = False
    # "StandardTransformerDecoder" (MaskFormer) or "MultiScaleMaskedTransformerDecoder"
    # (Mask2Former); MaskFormer-release configs set the former explicitly.
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
    # pad images to a multiple of this in the model (overridden by the backbone's own need)
    cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = 32
    # point-sampled matching and losses (Mask2Former); 0 points means full-resolution
    # focal + dice as in MaskFormer
    cfg.MODEL.MASK_FORMER.TRAIN_NUM_POINTS = 112 * 112
    cfg.MODEL.MASK_FORMER.OVERSAMPLE_RATIO = 3.0
    cfg.MODEL.MASK_FORMER.IMPORTANCE_SAMPLE_RATIO = 0.75

    cfg.MODEL.MASK_FORMER.TEST = CN()
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = True
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = False
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = False
    cfg.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD = 0.0
    cfg.MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD = 0.0
    cfg.MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE = False

    # pixel decoder
    cfg.MODEL.SEM_SEG_HEAD.MASK_DIM = 256
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 0
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = "BasePixelDecoder"
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 4
    cfg.MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 8

    # Swin Transformer backbone
    cfg.MODEL.SWIN = CN()
    cfg.MODEL.SWIN.PRETRAIN_IMG_SIZE = 224
    cfg.MODEL.SWIN.PATCH_SIZE = 4
    cfg.MODEL.SWIN.EMBED_DIM = 96
    cfg.MODEL.SWIN.DEPTHS = [2, 2, 6, 2]
    cfg.MODEL.SWIN.NUM_HEADS = [3, 6, 12, 24]
    cfg.MODEL.SWIN.WINDOW_SIZE = 7
    cfg.MODEL.SWIN.MLP_RATIO = 4.0
    cfg.MODEL.SWIN.QKV_BIAS = True
    cfg.MODEL.SWIN.QK_SCALE = None
    cfg.MODEL.SWIN.DROP_RATE = 0.0
    cfg.MODEL.SWIN.ATTN_DROP_RATE = 0.0
    cfg.MODEL.SWIN.DROP_PATH_RATE = 0.3
    cfg.MODEL.SWIN.APE = False
    cfg.MODEL.SWIN.PATCH_NORM = True
    cfg.MODEL.SWIN.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.SWIN.USE_CHECKPOINT = False


class ConfigKeyError(UserError, KeyError):
    """A config file or command-line override sets a key that the config does not have."""


_UNKNOWN_KEY_PREFIXES = ("Non-existent config key: ", "Non-existent key: ")


def _unknown_key(error: BaseException) -> Optional[str]:
    """The dotted key of yacs' "Non-existent (config) key: A.B" errors, else None."""
    message = str(error.args[0]) if error.args else ""
    for prefix in _UNKNOWN_KEY_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix):]
    return None


def _defines(data: dict, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _first_file_setting(sources: List[Tuple[str, Dict[str, Any]]], key: str) -> Optional[str]:
    """The first of ``sources`` ((file, its own mapping), in order of precedence: see
    :func:`~mask2former.config_file.load_yaml_with_base`) whose mapping sets the dotted
    ``key``: the file its value comes from."""
    return next((file for file, data in sources if _defines(data, key)), None)


def merge_config(cfg: CN, config_file: str, opts: Sequence[str] = ()) -> CN:
    """Merges ``config_file`` (read safely, with its ``_BASE_`` chain: see
    :mod:`mask2former.config_file`) and then ``opts`` (the KEY VALUE pairs of a command line)
    into ``cfg``, in place, and checks the values that cannot work
    (:func:`~mask2former.config_checks.validate_config`); returns ``cfg``.

    Every entry point reads its config through this function. Errors name the file or key:
    :class:`ConfigFileError` (unreadable file, refused Python tag, ``_BASE_`` loop, ...),
    :class:`ConfigKeyError` for a key that the config does not have (with the YAML file that
    holds it, ``config_file`` or one of its ``_BASE_`` files, or the command line) and
    :class:`ConfigValueError` for a value that cannot work (with where it was set).

    Dataset names ending in ``.json`` are categories files: each is registered as a
    metadata-only dataset under that name, a relative path being relative to the YAML file
    that sets the list (or to the working directory when the command line sets it).
    """
    sources: List[Tuple[str, Dict[str, Any]]] = []
    try:
        merge_config_file(cfg, config_file, sources)
    except KeyError as e:
        key = _unknown_key(e)
        if key is None:
            raise
        source = _first_file_setting(sources, key) or f"{config_file} (or one of its _BASE_ files)"
        raise ConfigKeyError(
            f"{source}: unknown config key {key}. Check its spelling against "
            "mask2former/config.py and Detectron2's defaults (detectron2/config/defaults.py)."
        ) from None
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError) as e:
        key = _unknown_key(e)
        if key is None:
            raise
        raise ConfigKeyError(
            f"command-line override {key}: unknown config key (after --config-file "
            f"{config_file}). Check its spelling against mask2former/config.py and Detectron2's "
            "defaults (detectron2/config/defaults.py)."
        ) from None
    _register_categories_files(cfg, opts, sources)

    def where(key: str) -> str:
        if key in list(opts)[::2]:
            return "on the command line"
        file = _first_file_setting(sources, key)
        return f"in {file}" if file else "by default"

    validate_config(cfg, where)
    return cfg


def _register_categories_files(
    cfg: CN, opts: Sequence[str], sources: List[Tuple[str, Dict[str, Any]]]
) -> None:
    from_command_line = set(list(opts)[0::2])
    for split in ("TRAIN", "TEST"):
        key = f"DATASETS.{split}"
        names = [n for n in cfg.DATASETS[split] if n.endswith(METADATA_FILE_SUFFIX)]
        if not names:
            continue
        if key in from_command_line:
            folder = os.getcwd()
        else:
            folder = os.path.dirname(os.path.abspath(_first_file_setting(sources, key) or sources[0][0]))
        for name in names:
            register_metadata_file(name, os.path.join(folder, os.path.expanduser(name)))
