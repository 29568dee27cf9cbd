"""add_maskformer2_config: every key of the published releases' config code exists with its
published default, keys that published YAML files set merge, and the loss / matching settings of
each published config reach the criterion and the matcher of the model it builds."""

from pathlib import Path

import pytest
from detectron2.config import CfgNode, get_cfg
from detectron2.projects.deeplab import add_deeplab_config

from helpers.checkpoints import load_reference, reference_files, reference_stem
from helpers.configs import flatten, make_tiny_cfg
from helpers.paths import CONFIGS
from mask2former import add_maskformer2_config

# The defaults of the published releases' config functions (Mask2Former's
# add_maskformer2_config, a superset of MaskFormer's add_mask_former_config), key by key, sorted.
PUBLISHED_DEFAULTS = {
    "INPUT.COLOR_AUG_SSD": False,
    "INPUT.CROP.SINGLE_CATEGORY_MAX_AREA": 1.0,
    "INPUT.DATASET_MAPPER_NAME": "mask_former_semantic",
    "INPUT.IMAGE_SIZE": 1024,
    "INPUT.MAX_SCALE": 2.0,
    "INPUT.MIN_SCALE": 0.1,
    "INPUT.SIZE_DIVISIBILITY": -1,
    "MODEL.MASK_FORMER.CLASS_WEIGHT": 1.0,
    "MODEL.MASK_FORMER.DEC_LAYERS": 6,
    "MODEL.MASK_FORMER.DEEP_SUPERVISION": True,
    "MODEL.MASK_FORMER.DICE_WEIGHT": 1.0,
    "MODEL.MASK_FORMER.DIM_FEEDFORWARD": 2048,
    "MODEL.MASK_FORMER.DROPOUT": 0.1,
    "MODEL.MASK_FORMER.ENC_LAYERS": 0,
    "MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ": False,
    "MODEL.MASK_FORMER.HIDDEN_DIM": 256,
    "MODEL.MASK_FORMER.IMPORTANCE_SAMPLE_RATIO": 0.75,
    "MODEL.MASK_FORMER.MASK_WEIGHT": 20.0,
    "MODEL.MASK_FORMER.NHEADS": 8,
    "MODEL.MASK_FORMER.NO_OBJECT_WEIGHT": 0.1,
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES": 100,
    "MODEL.MASK_FORMER.OVERSAMPLE_RATIO": 3.0,
    "MODEL.MASK_FORMER.PRE_NORM": False,
    "MODEL.MASK_FORMER.SIZE_DIVISIBILITY": 32,
    "MODEL.MASK_FORMER.TEST.INSTANCE_ON": False,
    "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD": 0.0,
    "MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD": 0.0,
    "MODEL.MASK_FORMER.TEST.PANOPTIC_ON": False,
    "MODEL.MASK_FORMER.TEST.SEMANTIC_ON": True,
    "MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE": False,
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS": 112 * 112,
    "MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME": "MultiScaleMaskedTransformerDecoder",
    "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE": "res5",
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES": ["res3", "res4", "res5"],
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS": 8,
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS": 4,
    "MODEL.SEM_SEG_HEAD.MASK_DIM": 256,
    "MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME": "BasePixelDecoder",
    "MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS": 0,
    "MODEL.SWIN.APE": False,
    "MODEL.SWIN.ATTN_DROP_RATE": 0.0,
    "MODEL.SWIN.DEPTHS": [2, 2, 6, 2],
    "MODEL.SWIN.DROP_PATH_RATE": 0.3,
    "MODEL.SWIN.DROP_RATE": 0.0,
    "MODEL.SWIN.EMBED_DIM": 96,
    "MODEL.SWIN.MLP_RATIO": 4.0,
    "MODEL.SWIN.NUM_HEADS": [3, 6, 12, 24],
    "MODEL.SWIN.OUT_FEATURES": ["res2", "res3", "res4", "res5"],
    "MODEL.SWIN.PATCH_NORM": True,
    "MODEL.SWIN.PATCH_SIZE": 4,
    "MODEL.SWIN.PRETRAIN_IMG_SIZE": 224,
    "MODEL.SWIN.QKV_BIAS": True,
    "MODEL.SWIN.QK_SCALE": None,
    "MODEL.SWIN.USE_CHECKPOINT": False,
    "MODEL.SWIN.WINDOW_SIZE": 7,
    "SOLVER.BACKBONE_MULTIPLIER": 0.1,
    "SOLVER.OPTIMIZER": "ADAMW",
    "SOLVER.WEIGHT_DECAY_EMBED": 0.0,
}

# The published training scripts call add_deeplab_config before add_maskformer2_config: these
# DeepLab defaults are part of the published config (the Base-*.yaml files override the
# ResNet ones for the R50/R101 models).
PUBLISHED_DEEPLAB_DEFAULTS = {
    "MODEL.RESNETS.STEM_TYPE": "deeplab",
    "MODEL.RESNETS.RES5_MULTI_GRID": [1, 2, 4],
    "SOLVER.POLY_LR_POWER": 0.9,
    "SOLVER.POLY_LR_CONSTANT_ENDING": 0.0,
}


def _published_cfg():
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return cfg


def _normalized(value):
    return list(value) if isinstance(value, tuple) else value


def test_every_published_key_has_its_published_default():
    ours = flatten(_published_cfg())
    expected = {**PUBLISHED_DEFAULTS, **PUBLISHED_DEEPLAB_DEFAULTS}
    missing = sorted(set(expected) - set(ours))
    assert not missing, f"published keys missing: {missing}"
    wrong = {k: (_normalized(ours[k]), v) for k, v in expected.items() if _normalized(ours[k]) != v}
    assert not wrong, f"defaults differ from the published ones (ours, published): {wrong}"


def test_no_keys_beyond_the_published_ones():
    """What add_maskformer2_config adds to a Detectron2 + DeepLab config is exactly the
    published key set (a project-specific key would make published YAML files of users
    diverge silently; add it to PUBLISHED_DEFAULTS only if the releases have it)."""
    base = get_cfg()
    add_deeplab_config(base)
    base_keys = set(flatten(base))
    added = set(flatten(_published_cfg())) - base_keys
    published = set(PUBLISHED_DEFAULTS) - base_keys  # DeepLab adds SINGLE_CATEGORY_MAX_AREA too
    assert added == published, (
        f"not published: {sorted(added - published)}; missing: {sorted(published - added)}"
    )


def test_calling_after_add_deeplab_config_keeps_its_values(tmp_path):
    """The published scripts call add_deeplab_config first; ours must not reset its keys."""
    cfg = get_cfg()
    add_deeplab_config(cfg)
    cfg.SOLVER.POLY_LR_POWER = 0.5
    add_maskformer2_config(cfg)
    assert cfg.SOLVER.POLY_LR_POWER == 0.5


# Keys that the published YAML files of both releases set, with values they use (a published
# file sets each of them somewhere: Base-*.yaml, the Swin, R101c, LSJ, TTA and Cityscapes ones).
PUBLISHED_YAML = """
MODEL:
  BACKBONE: {FREEZE_AT: 0, NAME: "D2SwinTransformer"}
  SWIN:
    EMBED_DIM: 192
    DEPTHS: [2, 2, 18, 2]
    NUM_HEADS: [6, 12, 24, 48]
    WINDOW_SIZE: 12
    APE: False
    DROP_PATH_RATE: 0.3
    PATCH_NORM: True
    PRETRAIN_IMG_SIZE: 384
  RESNETS: {DEPTH: 101, STEM_TYPE: "deeplab", STEM_OUT_CHANNELS: 128, STRIDE_IN_1X1: False,
            RES5_MULTI_GRID: [1, 2, 4], NORM: "SyncBN",
            OUT_FEATURES: ["res2", "res3", "res4", "res5"]}
  SEM_SEG_HEAD:
    NAME: "MaskFormerHead"
    IGNORE_VALUE: 255
    NUM_CLASSES: 133
    LOSS_WEIGHT: 1.0
    CONVS_DIM: 256
    MASK_DIM: 256
    NORM: "GN"
    PIXEL_DECODER_NAME: "MSDeformAttnPixelDecoder"
    IN_FEATURES: ["res2", "res3", "res4", "res5"]
    DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: ["res3", "res4", "res5"]
    COMMON_STRIDE: 4
    TRANSFORMER_ENC_LAYERS: 6
  MASK_FORMER:
    TRANSFORMER_DECODER_NAME: "MultiScaleMaskedTransformerDecoder"
    TRANSFORMER_IN_FEATURE: "multi_scale_pixel_decoder"
    DEEP_SUPERVISION: True
    NO_OBJECT_WEIGHT: 0.1
    CLASS_WEIGHT: 2.0
    MASK_WEIGHT: 5.0
    DICE_WEIGHT: 5.0
    HIDDEN_DIM: 256
    NUM_OBJECT_QUERIES: 200
    NHEADS: 8
    DROPOUT: 0.0
    DIM_FEEDFORWARD: 2048
    ENC_LAYERS: 0
    PRE_NORM: False
    ENFORCE_INPUT_PROJ: False
    SIZE_DIVISIBILITY: 32
    DEC_LAYERS: 10
    TRAIN_NUM_POINTS: 12544
    OVERSAMPLE_RATIO: 3.0
    IMPORTANCE_SAMPLE_RATIO: 0.75
    TEST:
      SEMANTIC_ON: True
      INSTANCE_ON: True
      PANOPTIC_ON: True
      OVERLAP_THRESHOLD: 0.8
      OBJECT_MASK_THRESHOLD: 0.8
      SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE: False
SOLVER:
  OPTIMIZER: "ADAMW"
  LR_SCHEDULER_NAME: "WarmupPolyLR"
  BACKBONE_MULTIPLIER: 0.1
  WEIGHT_DECAY_EMBED: 0.0
  POLY_LR_POWER: 0.9
  POLY_LR_CONSTANT_ENDING: 0.0
  CLIP_GRADIENTS: {ENABLED: True, CLIP_TYPE: "full_model", CLIP_VALUE: 0.01, NORM_TYPE: 2.0}
  AMP: {ENABLED: True}
INPUT:
  IMAGE_SIZE: 1024
  MIN_SCALE: 0.1
  MAX_SCALE: 2.0
  FORMAT: "RGB"
  DATASET_MAPPER_NAME: "coco_panoptic_lsj"
  COLOR_AUG_SSD: True
  SIZE_DIVISIBILITY: 512
  CROP: {ENABLED: True, TYPE: "absolute", SIZE: [512, 512], SINGLE_CATEGORY_MAX_AREA: 1.0}
TEST:
  EVAL_PERIOD: 5000
  DETECTIONS_PER_IMAGE: 100
  AUG: {ENABLED: False, MIN_SIZES: [256, 384, 512, 640, 768, 896], MAX_SIZE: 3584, FLIP: True}
DATALOADER: {FILTER_EMPTY_ANNOTATIONS: True, NUM_WORKERS: 4}
VERSION: 2
"""


def test_keys_of_published_yaml_files_merge(tmp_path):
    path = tmp_path / "published_style.yaml"
    path.write_text(PUBLISHED_YAML)
    cfg = _published_cfg()
    cfg.merge_from_file(str(path))
    assert cfg.MODEL.SWIN.EMBED_DIM == 192 and cfg.INPUT.DATASET_MAPPER_NAME == "coco_panoptic_lsj"
    assert cfg.MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD == 0.8


def test_unknown_key_in_a_nested_new_node_fails(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("MODEL:\n  SWIN:\n    WINDOWS_SIZE: 12\n")
    cfg = _published_cfg()
    with pytest.raises(KeyError, match="Non-existent config key: MODEL.SWIN.WINDOWS_SIZE"):
        cfg.merge_from_file(str(path))


def _load(release: str, reference: Path) -> CfgNode:
    published = load_reference(reference)[0]
    root = CONFIGS if release == "mask2former" else CONFIGS / "maskformer"
    cfg = _published_cfg()
    cfg.merge_from_file(str(root / Path(published).relative_to("configs")))
    return cfg


MASK_CLASSIFICATION_REFERENCES = [
    (release, path)
    for release in ("mask2former", "maskformer")
    for path in reference_files(release)
    if "per_pixel_baseline" not in path.name
]


@pytest.mark.parametrize(
    "release,reference",
    MASK_CLASSIFICATION_REFERENCES,
    ids=[f"{r}/{reference_stem(p)}" for r, p in MASK_CLASSIFICATION_REFERENCES],
)
def test_published_loss_and_matching_settings(release, reference):
    """Mask2Former: class 2, mask (BCE) 5, dice 5 on 112x112 importance-sampled points
    (oversample 3, importance 0.75); MaskFormer: class 1, mask (focal) 20, dice 1 at full
    resolution; no-object weight 0.1 and deep supervision in both."""
    mf = _load(release, reference).MODEL.MASK_FORMER
    if release == "mask2former":
        expected = (2.0, 5.0, 5.0, 112 * 112, 3.0, 0.75)
    else:
        expected = (1.0, 20.0, 1.0, 0, 3.0, 0.75)
    assert (
        mf.CLASS_WEIGHT,
        mf.MASK_WEIGHT,
        mf.DICE_WEIGHT,
        mf.TRAIN_NUM_POINTS,
        mf.OVERSAMPLE_RATIO,
        mf.IMPORTANCE_SAMPLE_RATIO,
    ) == expected
    assert mf.NO_OBJECT_WEIGHT == 0.1 and mf.DEEP_SUPERVISION


@pytest.mark.parametrize("deep_supervision", [True, False])
def test_model_takes_loss_and_matching_settings_from_the_config(deep_supervision):
    """Unusual values for every weight: each reaches the matcher, the criterion and its
    weight_dict (final and auxiliary losses)."""
    from detectron2.modeling import build_model

    cfg = make_tiny_cfg()
    mf = cfg.MODEL.MASK_FORMER
    mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT = 3.5, 7.25, 0.5
    mf.NO_OBJECT_WEIGHT = 0.3
    mf.TRAIN_NUM_POINTS, mf.OVERSAMPLE_RATIO, mf.IMPORTANCE_SAMPLE_RATIO = 100, 2.0, 0.4
    mf.DEEP_SUPERVISION = deep_supervision
    criterion = build_model(cfg).criterion
    matcher = criterion.matcher
    assert (matcher.cost_class, matcher.cost_mask, matcher.cost_dice) == (3.5, 7.25, 0.5)
    assert matcher.num_points == 100
    assert (criterion.num_points, criterion.oversample_ratio) == (100, 2.0)
    assert criterion.importance_sample_ratio == 0.4
    assert criterion.empty_weight[-1].item() == pytest.approx(0.3)
    assert criterion.empty_weight[:-1].eq(1).all()
    base = {"loss_ce": 3.5, "loss_mask": 7.25, "loss_dice": 0.5}
    expected = dict(base)
    if deep_supervision:
        for i in range(mf.DEC_LAYERS - 1):
            expected.update({f"{k}_{i}": v for k, v in base.items()})
    assert criterion.weight_dict == expected
