"""The config tree under configs/: every config of the Mask2Former release (same paths, image and
video models) and of the MaskFormer release (under configs/maskformer/) is here, merges, and
builds a model whose state_dict has exactly the names and shapes of that config's published
checkpoint."""

from functools import lru_cache
from pathlib import Path

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

from helpers.checkpoints import (
    compare_state_dict,
    load_reference,
    reference_files,
    reference_stem,
)
from helpers.configs import flatten, tiny_config_file
from helpers.paths import CONFIGS
from mask2former import add_maskformer2_config
from mask2former.data import build_dataset_mapper
from mask2former.modeling.postprocessing import panoptic_within_mask
from mask2former.video import add_maskformer2_video_config
from mask2former.video.data import YTVISDatasetMapper

# where each release's "configs/..." paths live in this repository
RELEASE_ROOTS = {
    "mask2former": CONFIGS,
    "mask2former-video": CONFIGS,
    "maskformer": CONFIGS / "maskformer",
}
# number of configs of each release (one reference file per config)
RELEASE_SIZES = {"mask2former": 47, "mask2former-video": 12, "maskformer": 30}

# short names users type -> the full config each one stands for (relative to configs/)
SHORT_NAMES = {
    "ade20k/R50.yaml": "ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml",
    "ade20k/swin_L.yaml": "ade20k/semantic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_160k_res640.yaml",
    "ade20k/panoptic_R50.yaml": "ade20k/panoptic-segmentation/maskformer2_R50_bs16_160k.yaml",
    "ade20k/panoptic_swin_L.yaml": "ade20k/panoptic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_160k.yaml",
    "coco/panoptic_R50.yaml": "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "coco/panoptic_swin_L.yaml": "coco/panoptic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml",
    "coco/instance_R50.yaml": "coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml",
    "coco/instance_swin_L.yaml": "coco/instance-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_100ep.yaml",
}

# MaskFormer-release folders whose configs also return panoptic results
MASKFORMER_PANOPTIC_DIRS = {"ade20k-150-panoptic", "coco-panoptic"}

REFERENCES = [(release, path) for release in RELEASE_ROOTS for path in reference_files(release)]


def _reference_id(item):
    release, path = item
    return f"{release}/{reference_stem(path)}"


def our_path(release: str, published: str) -> Path:
    """Where the config published as ``published`` ("configs/...") of ``release`` lives here."""
    return RELEASE_ROOTS[release] / Path(published).relative_to("configs")


def load_cfg(path: Path):
    """The config of the YAML file ``path`` (a copy: callers may change it)."""
    return _load_cfg(Path(path)).clone()


@lru_cache(maxsize=None)
def _load_cfg(path: Path):
    # several tests read the same files; parsing a YAML chain costs ~0.05 s
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    add_maskformer2_video_config(cfg)  # the keys of the video configs
    cfg.merge_from_file(str(path))
    return cfg


def build_on_meta(cfg):
    """The model of ``cfg`` with every tensor on the meta device: names and shapes without
    allocating or initialising ~200M parameters."""
    cfg = cfg.clone()
    cfg.MODEL.DEVICE = "meta"
    cfg.MODEL.WEIGHTS = ""
    with torch.device("meta"):
        return build_model(cfg)


def test_reference_sets_are_complete():
    for release, size in RELEASE_SIZES.items():
        assert len(reference_files(release)) == size, f"reference files of {release} missing"


def test_video_references_are_complete_and_parse():
    """The video instance segmentation configs of the Mask2Former release (YouTube-VIS 2019 and
    2021, R50, R101 and the four Swin sizes): carried for the video model, read here so that a
    damaged file is noticed now."""
    files = reference_files("mask2former-video")
    assert len(files) == 12
    for path in files:
        published, count, shapes = load_reference(path)
        dataset, *_ = reference_stem(path).split("__")
        assert published.startswith(f"configs/{dataset}/") and published.endswith(".yaml"), path
        published_parts = Path(published).relative_to("configs").with_suffix("").parts
        assert reference_stem(path) == "__".join(published_parts), path
        assert count > 0 and "sem_seg_head.predictor.class_embed.weight" in shapes, path


@pytest.mark.parametrize(
    "release,reference", REFERENCES, ids=[_reference_id(r) for r in REFERENCES]
)
def test_model_matches_published_checkpoint(release, reference):
    published, num_params, shapes = load_reference(reference)
    path = our_path(release, published)
    assert path.is_file(), f"{published} of the {release} release has no copy at {path}"

    model = build_on_meta(load_cfg(path))

    problems = compare_state_dict(model.state_dict(), shapes)
    assert not problems, f"{path.relative_to(CONFIGS)}: {len(problems)} differences\n" + "\n".join(
        problems[:30]
    )
    assert sum(p.numel() for p in model.parameters()) == num_params


@pytest.mark.parametrize(
    "release,reference", REFERENCES, ids=[_reference_id(r) for r in REFERENCES]
)
def test_release_behaviour(release, reference):
    """MaskFormer-release configs select the MaskFormer decoder and losses and always return the
    semantic result (plus panoptic in the panoptic folders); Mask2Former ones the Mask2Former
    decoder with point-sampled losses; the video ones its video decoder and meta-architecture,
    returning instances. Each follows its release's panoptic rule."""
    published, _, _ = load_reference(reference)
    cfg = load_cfg(our_path(release, published))
    assert panoptic_within_mask(cfg) == (release != "maskformer")
    mf = cfg.MODEL.MASK_FORMER
    if release == "maskformer":
        assert mf.TRANSFORMER_DECODER_NAME == "StandardTransformerDecoder"
        assert mf.TRAIN_NUM_POINTS == 0
        assert mf.TEST.SEMANTIC_ON and not mf.TEST.INSTANCE_ON
        assert mf.TEST.PANOPTIC_ON == (Path(published).parts[1] in MASKFORMER_PANOPTIC_DIRS)
    elif release == "mask2former-video":
        assert cfg.MODEL.META_ARCHITECTURE == "VideoMaskFormer"
        assert mf.TRANSFORMER_DECODER_NAME == "VideoMultiScaleMaskedTransformerDecoder"
        assert mf.TRAIN_NUM_POINTS == 112 * 112
        assert mf.TEST.INSTANCE_ON and not (mf.TEST.SEMANTIC_ON or mf.TEST.PANOPTIC_ON)
    else:
        assert mf.TRANSFORMER_DECODER_NAME == "MultiScaleMaskedTransformerDecoder"
        assert mf.TRAIN_NUM_POINTS == 112 * 112
        assert mf.TEST.SEMANTIC_ON or mf.TEST.INSTANCE_ON or mf.TEST.PANOPTIC_ON


# Test-time values of the MaskFormer release's panoptic configs, per folder, as published:
# (OBJECT_MASK_THRESHOLD, OVERLAP_THRESHOLD, MODEL.MASK_FORMER.SIZE_DIVISIBILITY)
MASKFORMER_PANOPTIC_TEST = {"coco-panoptic": (0.8, 0.8, 0), "ade20k-150-panoptic": (0.7, 0.8, 32)}


def test_maskformer_panoptic_test_settings_are_published_values():
    checked = 0
    for path in reference_files("maskformer"):
        published = load_reference(path)[0]
        folder = Path(published).parts[1]
        if folder not in MASKFORMER_PANOPTIC_TEST:
            continue
        mf = load_cfg(our_path("maskformer", published)).MODEL.MASK_FORMER
        values = (mf.TEST.OBJECT_MASK_THRESHOLD, mf.TEST.OVERLAP_THRESHOLD, mf.SIZE_DIVISIBILITY)
        assert values == MASKFORMER_PANOPTIC_TEST[folder], published
        checked += 1
    assert checked == 8  # 6 COCO (R50, R101, Swin-T/S/B/L), 2 ADE20K (R50, R101)


@pytest.mark.parametrize(
    "release,reference", REFERENCES, ids=[_reference_id(r) for r in REFERENCES]
)
def test_datasets_and_mapper_exist(release, reference):
    """The datasets a config trains and tests on are registered, and its dataset mapper builds
    (the video mapper for video configs, as train_net_video.py does)."""
    cfg = load_cfg(our_path(release, load_reference(reference)[0]))
    registered = set(DatasetCatalog.list())
    unknown = [d for d in cfg.DATASETS.TRAIN + cfg.DATASETS.TEST if d not in registered]
    assert not unknown, f"datasets not registered: {unknown}"

    build_mapper = YTVISDatasetMapper if release == "mask2former-video" else build_dataset_mapper
    build_mapper(cfg, is_train=True)
    build_mapper(cfg, is_train=False)


ALL_CONFIG_FILES = sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize(
    "path", ALL_CONFIG_FILES, ids=[str(p.relative_to(CONFIGS)) for p in ALL_CONFIG_FILES]
)
def test_config_file_merges(path):
    load_cfg(path)


def test_every_config_file_is_accounted_for():
    """Each file under configs/ is a published config, a Base-*.yaml, a short name or one of the
    quick-start configs, so that nothing stale lingers in the tree."""
    published = {
        our_path(release, load_reference(reference)[0]) for release, reference in REFERENCES
    }
    short = {CONFIGS / name for name in SHORT_NAMES}
    stray = [
        str(p.relative_to(CONFIGS))
        for p in ALL_CONFIG_FILES
        if p not in published
        and p not in short
        and not p.name.startswith("Base-")
        and p.relative_to(CONFIGS).parts[0] != "quickstart"
    ]
    assert not stray


@pytest.mark.parametrize("short,full", SHORT_NAMES.items(), ids=list(SHORT_NAMES))
def test_short_name_resolves_to_full_config(short, full):
    assert load_cfg(CONFIGS / short) == load_cfg(CONFIGS / full)


def test_unknown_key_fails_with_detectron2_error(tmp_path):
    user_config = tmp_path / "my_config.yaml"
    user_config.write_text(
        f"_BASE_: {CONFIGS / 'ade20k/R50.yaml'}\nMODEL:\n  MASK_FORMER:\n    NUM_QUERIES: 50\n"
    )
    with pytest.raises(KeyError, match="Non-existent config key: MODEL.MASK_FORMER.NUM_QUERIES"):
        load_cfg(user_config)


def _merge(config_file, opts=()):
    from mask2former.config import merge_config

    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return merge_config(cfg, str(config_file), opts)


def test_unknown_key_names_the_file_that_sets_it(tmp_path):
    """merge_config (train_net.py, tools/quickstart.py) names the YAML file holding an unknown
    key, also when it is a _BASE_ of the file given, and the command line for overrides."""
    from mask2former.config import ConfigKeyError

    (tmp_path / "base.yaml").write_text(
        f"_BASE_: {CONFIGS / 'ade20k/R50.yaml'}\nMODEL:\n  MASK_FORMER:\n    NUM_QUERIES: 50\n"
    )
    (tmp_path / "sub").mkdir()
    user = tmp_path / "sub" / "my_config.yaml"
    user.write_text("_BASE_: ../base.yaml\nSOLVER:\n  MAX_ITER: 10\n")
    with pytest.raises(ConfigKeyError) as info:
        _merge(user)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'base.yaml'}: unknown config key")
    assert "MODEL.MASK_FORMER.NUM_QUERIES" in message

    with pytest.raises(ConfigKeyError, match=r"command-line override SOLVER.MAX_ITERS: unknown"):
        _merge(CONFIGS / "ade20k/R50.yaml", ["SOLVER.MAX_ITERS", "10"])
    (tmp_path / "base.yaml").write_text(f"_BASE_: {CONFIGS / 'ade20k/R50.yaml'}\n")
    cfg = _merge(user, ["SOLVER.BASE_LR", "0.5"])
    assert cfg.SOLVER.MAX_ITER == 10 and cfg.SOLVER.BASE_LR == 0.5
    assert cfg == _merge(
        CONFIGS / "ade20k/R50.yaml", ["SOLVER.BASE_LR", "0.5", "SOLVER.MAX_ITER", "10"]
    )


def test_train_net_reports_unknown_key(tmp_path):
    from detectron2.engine import default_argument_parser

    from mask2former.commands import train_net
    from mask2former.config import ConfigKeyError

    args = default_argument_parser().parse_args(
        [
            "--config-file",
            str(CONFIGS / "quickstart/semantic.yaml"),
            "OUTPUT_DIR",
            str(tmp_path),
            "MODEL.MASK_FORMER.NUM_QUERIES",
            "3",
        ]
    )
    with pytest.raises(ConfigKeyError, match="command-line override MODEL.MASK_FORMER.NUM_QUERIES"):
        train_net.setup(args)


# what the tiny configs shrink: widths, depths, queries, classes and sampled points
TINY_SIZES = {
    "SEM_SEG_HEAD.NUM_CLASSES", "SEM_SEG_HEAD.CONVS_DIM", "SEM_SEG_HEAD.MASK_DIM",
    "SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS",
    "MASK_FORMER.HIDDEN_DIM", "MASK_FORMER.NHEADS", "MASK_FORMER.DIM_FEEDFORWARD",
    "MASK_FORMER.DEC_LAYERS", "MASK_FORMER.NUM_OBJECT_QUERIES", "MASK_FORMER.TRAIN_NUM_POINTS",
}  # fmt: skip


@pytest.mark.parametrize(
    "tiny,published,expected",
    [
        # the random tiny Mask2Former keeps every query's mask at inference (thresholds 0)
        ("base", "Base-Mask2Former.yaml",
         TINY_SIZES | {"MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD", "MASK_FORMER.TEST.OVERLAP_THRESHOLD"}),
        # MaskFormer's mask losses are on full-resolution masks (no sampled points), as published
        ("maskformer", "maskformer/Base-MaskFormer.yaml", TINY_SIZES - {"MASK_FORMER.TRAIN_NUM_POINTS"}),
    ],
)  # fmt: skip
def test_tiny_configs_are_their_published_architecture_made_small(tiny, published, expected):
    """The tiny models of tests/configs stand in for the published ones: their heads,
    decoders, losses and matching are the published ones; only sizes differ."""
    ours = flatten(load_cfg(tiny_config_file(tiny)).MODEL)
    theirs = flatten(load_cfg(CONFIGS / published).MODEL)
    heads = [
        k
        for k in theirs
        if k.startswith(("SEM_SEG_HEAD.", "MASK_FORMER.")) or k == "META_ARCHITECTURE"
    ]
    assert {k for k in heads if ours[k] != theirs[k]} == expected
