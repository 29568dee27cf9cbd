"""Weights from and to Hugging Face transformers (mask2former.checkpoint.huggingface, tools/convert_checkpoint.py),
checked against transformers itself: random transformers models are converted and both run on
the same image; real-size configs are mapped both ways and their weight names checked against
transformers' models built on the meta device; the way back reproduces every tensor."""

import glob
import json
import os
import shutil
from pathlib import Path

import cv2
import pytest
import torch
import transformers
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY
from safetensors.torch import load_file, save_file

from helpers.paths import REPO
from helpers.scripts import load_script
from mask2former import add_maskformer2_config
from mask2former.checkpoint import read_checkpoint
from mask2former.checkpoint.huggingface import (
    ConversionError,
    export_checkpoint,
    import_checkpoint,
)
from mask2former.checkpoint.huggingface.architecture import (
    cfg_from_transformers,
    tensor_plan,
    transformers_config,
)
from mask2former.checkpoint.huggingface.names import file_names
from mask2former.checkpoint.huggingface.preprocessing import (
    image_processor_config,
    input_to_cfg,
)
from mask2former.checkpoint.huggingface.tensor_plan import (
    Concat,
    Copy,
    Derived,
    carried_from_json,
    carried_to_json,
)
from mask2former.cli import run_cli
from mask2former.config import merge_config
from mask2former.data.datasets import DatasetNotFoundError
from mask2former.engine.predictor import MaskFormerPredictor

compare_tool = load_script("tools/compare_transformers.py")
convert_tool = load_script("tools/convert_checkpoint.py")

MODEL_CLASSES = {
    "mask2former": (
        transformers.Mask2FormerConfig,
        transformers.Mask2FormerForUniversalSegmentation,
    ),
    "maskformer": (transformers.MaskFormerConfig, transformers.MaskFormerForInstanceSegmentation),
}


def saved_model(name, folder, **save_kwargs):
    """The random transformers model of a combination of tools/compare_transformers.py, saved
    with save_pretrained into ``folder``."""
    model = compare_tool.transformers_model(name)
    model.save_pretrained(str(folder), **save_kwargs)
    return model


def new_cfg(config_file=None, opts=()):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    if config_file:
        merge_config(cfg, str(config_file), list(opts))
    return cfg


# ---------------------------------------------------------------------------------------------
# against transformers: outputs, post-processing, the way back


@pytest.mark.parametrize("name", list(compare_tool.COMBINATIONS))
def test_converted_model_computes_what_transformers_computes(name, tmp_path):
    m = compare_tool.compare(name, str(tmp_path))
    # final layer, same normalized image fed to both
    assert m["class_logits_diff"] < 1e-4 and m["mask_logits_diff"] < 1e-4, m
    # semantic: transformers' post_process_semantic_segmentation
    assert m["semantic_score_diff"] < 1e-4 and m["semantic_differ_only_at_ties"], m
    # instances: post_process_instance_segmentation with the same top-k and threshold
    for prefix in ("", "all_classes_"):
        assert m[prefix + "instances"][0] == m[prefix + "instances"][1], m
        assert m[prefix + "instance_classes_equal"] and m[prefix + "instance_score_diff"] < 1e-4, m
        assert m[prefix + "instance_masks_differ_only_near_0"], m
    assert m["all_classes_instances"][0] > 0, m
    # panoptic: every segment lies in one of transformers' with the same class
    assert m["panoptic_segments_inside_theirs"] == m["panoptic_segments"][0], m
    # the post-processings on the same designed predictions: equal up to the documented rule
    assert m["designed_semantic_score_diff"] < 1e-6 and m["designed_semantic_pixels_differing"] == 0
    assert m["designed_instances"] == (3, 3) and m["designed_instance_classes_equal"], m
    assert m["designed_instance_mask_pixels_differing"] == 0, m
    assert m["designed_panoptic_segments"] == (5, 5), m
    assert m["designed_panoptic_pixels_differing"] == 0, m
    # the way back: from_pretrained loads with nothing missing or unexpected, bit for bit
    assert m["loads_strictly"] and m["round_trip_exact"], m


def test_designed_predictions_exercise_the_panoptic_rules(tmp_path):
    """The designed case is not vacuous: transformers gives uncovered pixels to a segment
    (the documented difference) and both drop the hidden query and fuse the stuff class."""
    saved_model("mask2former-resnet50", tmp_path / "hf")
    imported = import_checkpoint(
        str(tmp_path / "hf"),
        str(tmp_path / "ours"),
        tasks=["panoptic"],
        thing_classes=["car", "person"],
    )
    cfg = new_cfg(imported.config_file, ["MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD", "0.5"])
    cfg.MODEL.DEVICE = "cpu"
    model = META_ARCH_REGISTRY.get("MaskFormer")(cfg).eval()
    designed = compare_tool.designed_predictions(96)
    ours, segments = model.inference_single(
        designed.class_queries_logits[0], designed.masks_queries_logits[0], (96, 96), 96, 96
    )["panoptic_seg"]
    theirs, labels = compare_tool.panoptic_of(
        compare_tool.image_processor("mask2former"), designed, (96, 96)
    )
    names = [compare_tool.CLASS_NAMES[s["category_id"]] for s in segments]
    assert sorted(names) == ["car", "car", "person", "road", "sky"]  # no "tree": hidden
    assert ((ours == 0) & (theirs != 0)).any()  # uncovered pixels: transformers assigns them
    assert sorted(compare_tool.CLASS_NAMES[i] for i in labels.values()) == sorted(names)


def test_files_with_transformers_5_module_names_convert_alike(tmp_path):
    """A state_dict saved directly (transformers 5's in-memory names) gives the same tensors as
    the save_pretrained file (the names transformers writes, as on the Hub)."""
    model = saved_model("mask2former-swin-window7-224", tmp_path / "saved")
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(tmp_path / "saved" / "config.json", raw)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(raw / "model.safetensors")
    )
    assert set(model.state_dict()) != set(load_file(str(tmp_path / "saved" / "model.safetensors")))
    a = import_checkpoint(str(tmp_path / "saved"), str(tmp_path / "a"))
    b = import_checkpoint(str(raw), str(tmp_path / "b"))
    ta, tb = (read_checkpoint(x.weights_file)["model"] for x in (a, b))
    assert set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_pytorch_bin_and_sharded_safetensors_read_without_pickle(tmp_path):
    model = saved_model("maskformer-resnet18", tmp_path / "sharded", max_shard_size="2MB")
    assert glob.glob(str(tmp_path / "sharded" / "model.safetensors.index.json"))
    binary = tmp_path / "bin"
    binary.mkdir()
    shutil.copy(tmp_path / "sharded" / "config.json", binary)
    torch.save(file_names(model.state_dict()), binary / "pytorch_model.bin")
    results = [
        import_checkpoint(str(folder), str(tmp_path / f"out{i}"))
        for i, folder in enumerate([tmp_path / "sharded", binary])
    ]
    ta, tb = (read_checkpoint(r.weights_file)["model"] for r in results)
    assert set(ta) == set(tb) and all(torch.equal(ta[k], tb[k]) for k in ta)

    torch.save({"weights": torch.ones(1), "path": Path("x")}, binary / "pytorch_model.bin")
    with pytest.raises(ConversionError, match="objects other than tensors, refused"):
        import_checkpoint(str(binary), str(tmp_path / "refused"))


def test_way_back_keeps_half_precision_bit_for_bit(tmp_path):
    model = compare_tool.transformers_model("maskformer-swin-window12-384").half()
    model.save_pretrained(str(tmp_path / "hf"))
    imported = import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "ours"), weights_format="pth")
    assert imported.weights_file.endswith(".pth")
    export_checkpoint(imported.config_file, imported.weights_file, str(tmp_path / "back"))
    original = load_file(str(tmp_path / "hf" / "model.safetensors"))
    written = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert set(original) == set(written)
    for k, v in original.items():
        assert written[k].dtype == v.dtype and torch.equal(written[k], v), k


def test_model_trained_here_exports_and_runs_in_transformers(tmp_path):
    """Weights written by this project (no transformers-only tensors kept aside): transformers
    loads them strictly and computes what this project's model computes."""
    saved_model("mask2former-swin-window12-384", tmp_path / "hf")
    imported = import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "ours"))
    cfg, model = compare_tool.project_model(imported.config_file)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # "fine-tuned"
    weights = tmp_path / "model_final.pth"
    torch.save({"model": model.state_dict(), "iteration": 10}, weights)
    exported = export_checkpoint(imported.config_file, str(weights), str(tmp_path / "back"))
    assert exported.defaults == [
        "model.pixel_level_module.encoder.swin.layernorm.weight",
        "model.pixel_level_module.encoder.swin.layernorm.bias",
    ]
    hf, info = transformers.Mask2FormerForUniversalSegmentation.from_pretrained(
        str(tmp_path / "back"), output_loading_info=True
    )
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    pixels = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        theirs = hf.eval()(pixel_values=pixels)
        ours = model.sem_seg_head(model.backbone(pixels))
    torch.testing.assert_close(ours["pred_logits"], theirs.class_queries_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours["pred_masks"], theirs.masks_queries_logits, atol=1e-4, rtol=0)
    processor = transformers.AutoImageProcessor.from_pretrained(str(tmp_path / "back"))
    assert type(processor).__name__.startswith("Mask2FormerImageProcessor")
    assert (
        list(processor.image_mean) == [0.485, 0.456, 0.406]
        and processor.size["shortest_edge"] == 800
    )


# ---------------------------------------------------------------------------------------------
# every tensor accounted for; unsupported input named in one line


def _copy_folder(src, dst, edit_tensors=None, edit_config=None):
    shutil.copytree(src, dst)
    if edit_tensors:
        tensors = load_file(str(dst / "model.safetensors"))
        edit_tensors(tensors)
        save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    if edit_config:
        config = json.loads((dst / "config.json").read_text())
        edit_config(config)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_unused_and_missing_tensors_are_named(tmp_path):
    saved_model("mask2former-swin-window7-224", tmp_path / "hf")
    extra = _copy_folder(
        tmp_path / "hf", tmp_path / "extra", lambda t: t.update(stray=torch.ones(2))
    )
    with pytest.raises(
        ConversionError, match="1 tensors have no counterpart in the other model: stray"
    ):
        import_checkpoint(str(extra), str(tmp_path / "out"))
    name = "model.transformer_module.decoder.layers.1.fc2.bias"
    missing = _copy_folder(tmp_path / "hf", tmp_path / "missing", lambda t: t.pop(name))
    with pytest.raises(
        ConversionError, match=f"1 tensors that the config implies are missing: {name}"
    ):
        import_checkpoint(str(missing), str(tmp_path / "out"))
    index = "model.pixel_level_module.encoder.encoder.layers.0.blocks.1.attention.self.relative_position_index"
    wrong = _copy_folder(
        tmp_path / "hf",
        tmp_path / "wrong",
        lambda t: t.update({index: torch.zeros(49, 49, dtype=torch.int64)}),
    )
    with pytest.raises(ConversionError, match="differs from the value its config implies"):
        import_checkpoint(str(wrong), str(tmp_path / "out"))


def test_way_back_names_tensors_the_plan_does_not_cover(tmp_path):
    saved_model("maskformer-swin-window7-224", tmp_path / "hf")
    imported = import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "ours"))
    cfg = new_cfg(imported.config_file)
    state = read_checkpoint(imported.weights_file)["model"]
    state["sem_seg_head.extra.weight"] = torch.ones(1)
    with pytest.raises(
        ConversionError, match="no counterpart in the other model: sem_seg_head.extra.weight"
    ):
        tensor_plan(cfg).to_theirs(state, {}, "weights")
    del state["sem_seg_head.extra.weight"], state["criterion.empty_weight"]
    with pytest.raises(ConversionError, match="missing: criterion.empty_weight"):
        tensor_plan(cfg).to_theirs(state, {}, "weights")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["backbone_config"].update(use_absolute_embeddings=True),
            "use_absolute_embeddings = True is not supported",
        ),
        (
            lambda c: c.update(encoder_feedforward_dim=512),
            "encoder_feedforward_dim = 512 is not supported",
        ),
        (
            lambda c: c["backbone_config"].update(model_type="convnext"),
            "model_type = 'convnext' is not supported",
        ),
        (
            lambda c: c["backbone_config"].update(model_type="maskformer-swin"),
            "is MaskFormer's Swin",
        ),
        (
            lambda c: c.update(architectures=["Mask2FormerModel"]),
            "the model with the segmentation heads",
        ),
        (lambda c: c["backbone_config"].update(out_features=["stage4"]), "expected every stage"),
    ],
)
def test_unsupported_configs_fail_in_one_line(edit, message, tmp_path, capsys):
    saved_model("mask2former-swin-window7-224", tmp_path / "hf")
    folder = _copy_folder(tmp_path / "hf", tmp_path / "edited", edit_config=edit)
    capsys.readouterr()
    status = run_cli(
        convert_tool.main, [str(folder), str(tmp_path / "out")], prog="convert_checkpoint.py"
    )
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("convert_checkpoint.py: error: ") and "config.json" in err


@pytest.mark.parametrize(
    "config, message",
    [
        ("configs/maskformer/ade20k-150/maskformer_R101c_bs16_160k.yaml", "DeepLab stem"),
        (
            "configs/maskformer/ade20k-150/per_pixel_baseline_R50_bs16_160k.yaml",
            "MODEL.META_ARCHITECTURE",
        ),
        (
            "configs/maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml",
            "plain FPN pixel decoder",
        ),
    ],
)
def test_configs_transformers_cannot_represent_are_refused(config, message):
    cfg = new_cfg(REPO / config)
    with pytest.raises(ConversionError, match=message):
        transformers_config(cfg, [f"c{i}" for i in range(cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)])
        tensor_plan(cfg)


# ---------------------------------------------------------------------------------------------
# real sizes: the published configs and transformers' own models (meta device, no memory)


def _flat(node, prefix=""):
    out = {}
    for key, value in node.items():
        if hasattr(value, "items"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = list(value) if isinstance(value, tuple) else value
    return out


def _published_models():
    """One published config per distinct model that transformers can represent (configs that
    differ only in data, schedule, classes or test settings build the same tensors)."""
    chosen = {}
    for path in sorted(glob.glob(str(REPO / "configs" / "**" / "*.yaml"), recursive=True)):
        if "Base-" in path or "quickstart" in path or "youtubevis" in path:  # no video models
            continue
        cfg = new_cfg(path)
        if (
            cfg.MODEL.META_ARCHITECTURE != "MaskFormer"  # per-pixel baselines
            or cfg.MODEL.BACKBONE.NAME.endswith("deeplab_backbone")  # R101c
            or cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME == "TransformerEncoderPixelDecoder"
        ):
            continue
        ignored = ("WEIGHTS", "MASK_FORMER.TEST", "SEM_SEG_HEAD.NUM_CLASSES", "SEM_SEG_HEAD.IGNORE")
        model = {k: v for k, v in _flat(cfg.MODEL).items() if not k.startswith(ignored)}
        key = json.dumps(model, sort_keys=True, default=str)
        chosen.setdefault(key, os.path.relpath(path, REPO))
    return sorted(chosen.values())


# keys a transformers config does not hold, or holds in a form that builds the same model
NOT_CARRIED = (
    "MODEL.WEIGHTS",
    "MODEL.RESNETS.NORM",  # BatchNorm in both; SyncBN / FrozenBN is a training choice
    "MODEL.BACKBONE.FREEZE_AT",
    "MODEL.MASK_FORMER.TEST.",
    "MODEL.MASK_FORMER.SIZE_DIVISIBILITY",
    "MODEL.SWIN.USE_CHECKPOINT",
    "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT",
)


def _transformers_meta_model(hf_config):
    config_class, model_class = MODEL_CLASSES[hf_config["model_type"]]
    with torch.device("meta"):
        return model_class(config_class.from_dict(hf_config))


@pytest.mark.parametrize("config", _published_models())
def test_published_configs_map_both_ways_with_every_weight(config):
    cfg = new_cfg(REPO / config)
    names = [f"class {i}" for i in range(cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)]
    hf_config = transformers_config(cfg, names)
    plan = tensor_plan(cfg)

    # this project's model: exactly the plan's tensors, same shapes
    with torch.device("meta"):
        ours = META_ARCH_REGISTRY.get("MaskFormer")(cfg.clone()).state_dict()
    assert set(ours) == set(plan.ours_names())
    # transformers' model of the written config: exactly the tensors the plan writes
    theirs = {
        k: v.shape for k, v in file_names(_transformers_meta_model(hf_config).state_dict()).items()
    }
    written = set()
    for rule in plan.rules:
        if isinstance(rule, Copy):
            assert theirs[rule.theirs] == ours[rule.ours].shape, rule
            written.add(rule.theirs)
        elif isinstance(rule, Concat):
            shapes = [theirs[n] for n in rule.theirs]
            assert sum(s[0] for s in shapes) == ours[rule.ours].shape[0], rule
            written.update(rule.theirs)
        elif isinstance(rule, Derived) and rule.written:
            assert theirs[rule.theirs] == ours[rule.ours].shape, rule
            written.add(rule.theirs)
    written.update(t.theirs for t in plan.transformers_only)
    assert written == set(theirs)

    # and back (config.json and preprocessor_config.json): the model keys of the published
    # config, except those of the other backbone and of no pixel-decoder encoder
    back = new_cfg()
    cfg_from_transformers(json.loads(json.dumps(hf_config)), back, "config.json")
    architecture = hf_config["model_type"]
    input_to_cfg(
        image_processor_config(cfg, architecture), back, "preprocessor_config.json", architecture
    )
    expected, got = _flat(cfg.MODEL), _flat(back.MODEL)
    unused = ("RESNETS.",) if cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer" else ("SWIN.",)
    if cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME == "BasePixelDecoder":
        unused += ("SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS",)
    differing = {
        k: (expected[k], got[k])
        for k in expected
        if expected[k] != got[k]
        and not f"MODEL.{k}".startswith(NOT_CARRIED)
        and not k.startswith(unused)
    }
    in_proj = (
        cfg.MODEL.MASK_FORMER.ENFORCE_INPUT_PROJ and "MASK_FORMER.ENFORCE_INPUT_PROJ" in differing
    )
    if in_proj and cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer":
        differing.pop("MASK_FORMER.ENFORCE_INPUT_PROJ")  # the widths differ: a projection anyway
    assert not differing, differing


SWIN_SIZES = {  # the Swin release: embed_dim, depths, heads
    "tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24]),
    "small": (96, [2, 2, 18, 2], [3, 6, 12, 24]),
    "base": (128, [2, 2, 18, 2], [4, 8, 16, 32]),
    "large": (192, [2, 2, 18, 2], [6, 12, 24, 48]),
}
PUBLISHED_SWIN = {  # (size, window): a published config with that backbone
    ("tiny", 7): "configs/ade20k/semantic-segmentation/swin/maskformer2_swin_tiny_bs16_160k.yaml",
    ("small", 7): "configs/ade20k/semantic-segmentation/swin/maskformer2_swin_small_bs16_160k.yaml",
    (
        "base",
        12,
    ): "configs/ade20k/semantic-segmentation/swin/maskformer2_swin_base_384_bs16_160k_res640.yaml",
    (
        "large",
        12,
    ): "configs/maskformer/ade20k-150/swin/maskformer_swin_large_IN21k_384_bs16_160k_res640.yaml",
}


@pytest.mark.parametrize("architecture", ["mask2former", "maskformer"])
@pytest.mark.parametrize("size", list(SWIN_SIZES))
@pytest.mark.parametrize("window, image_size", [(7, 224), (12, 384)])
def test_swin_sizes_and_windows_map_as_the_swin_release(architecture, size, window, image_size):
    """transformers' Swin configs of T/S/B/L with the 224 (window 7) and 384 (window 12)
    settings, as its conversions of the published checkpoints write them, give MODEL.SWIN of
    the published configs, and map back to themselves."""
    embed_dim, depths, heads = SWIN_SIZES[size]
    backbone_class = (
        transformers.SwinConfig
        if architecture == "mask2former"
        else transformers.MaskFormerSwinConfig
    )
    sizes = dict(embed_dim=embed_dim, depths=depths, num_heads=heads)
    stages = [f"stage{i}" for i in range(1, 5)]
    backbone = backbone_class(
        **sizes, window_size=window, image_size=image_size, drop_path_rate=0.3, out_features=stages
    )
    config_class, _ = MODEL_CLASSES[architecture]
    hf_config = config_class(backbone_config=backbone, num_labels=150).to_dict()
    cfg = new_cfg()
    cfg_from_transformers(hf_config, cfg, "config.json")
    swin = cfg.MODEL.SWIN
    assert (swin.EMBED_DIM, list(swin.DEPTHS), list(swin.NUM_HEADS)) == (embed_dim, depths, heads)
    assert (swin.WINDOW_SIZE, swin.PRETRAIN_IMG_SIZE) == (window, image_size)
    published = PUBLISHED_SWIN.get((size, window))
    if published:
        expected = _flat(new_cfg(REPO / published).MODEL.SWIN)
        assert {k: v for k, v in _flat(swin).items() if k != "USE_CHECKPOINT"} == {
            k: v for k, v in expected.items() if k != "USE_CHECKPOINT"
        }
    written = transformers_config(cfg, [str(i) for i in range(150)])["backbone_config"]
    for key in ("embed_dim", "depths", "num_heads", "window_size", "image_size", "drop_path_rate"):
        assert written[key] == hf_config["backbone_config"][key], key


# ---------------------------------------------------------------------------------------------
# class names, the demo, the command line, evaluation and fine-tuning


SMALL_TEST_INPUT = [
    "MODEL.DEVICE",
    "cpu",
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "128",
]


def test_class_names_reach_the_demo_and_thing_classes_the_model(tmp_path):
    saved_model("mask2former-swin-window7-224", tmp_path / "hf")
    out = tmp_path / "converted"
    status = run_cli(
        convert_tool.main,
        [
            str(tmp_path / "hf"),
            str(out),
            "--task",
            "semantic",
            "--task",
            "panoptic",
            "--thing-classes",
            "car",
            "3",
        ],
    )
    assert status == 0
    categories = json.loads((out / "categories.json").read_text())
    assert [c["name"] for c in categories] == compare_tool.CLASS_NAMES
    assert [c["isthing"] for c in categories] == [0, 0, 1, 1, 0]

    # the config names the categories file relative to itself: run from elsewhere
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        cfg = new_cfg(out / "config.yaml", SMALL_TEST_INPUT)
    finally:
        os.chdir(cwd)
    assert cfg.DATASETS.TEST == ("categories.json",)
    predictor = MaskFormerPredictor(cfg)
    assert predictor.metadata.stuff_classes == compare_tool.CLASS_NAMES
    assert predictor.model.thing_ids == (2, 3)
    output = predictor(torch.randint(0, 255, (64, 80, 3), dtype=torch.uint8).numpy())
    assert output["sem_seg"].shape == (5, 64, 80) and "panoptic_seg" in output
    with pytest.raises(DatasetNotFoundError, match="holds class names only"):
        DatasetCatalog.get("categories.json")

    demo = load_script("demo/demo.py", "demo_script")
    assert demo.VisualizationDemo(cfg).metadata.stuff_classes == compare_tool.CLASS_NAMES
    image = tmp_path / "image.png"
    cv2.imwrite(str(image), compare_tool.random_image(96).permute(1, 2, 0).numpy())
    argv = [
        "--config-file",
        str(out / "config.yaml"),
        "--input",
        str(image),
        "--output",
        str(tmp_path / "drawn"),
    ]
    assert demo.main(argv + ["--opts", *SMALL_TEST_INPUT]) == 0
    assert (tmp_path / "drawn" / "image.png").exists()


def test_command_line_override_of_the_dataset_is_relative_to_the_working_directory(
    tmp_path, monkeypatch
):
    (tmp_path / "names.json").write_text(
        json.dumps([{"id": 0, "name": "a"}, {"id": 1, "name": "b"}])
    )
    config = tmp_path / "sub" / "c.yaml"
    config.parent.mkdir()
    config.write_text("DATASETS:\n  TEST: ['missing.json']\n")
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "sub" / "missing.json")):
        new_cfg(config)
    monkeypatch.chdir(tmp_path)
    new_cfg(config, ["DATASETS.TEST", "('names.json',)"])
    assert MetadataCatalog.get("names.json").stuff_classes == ["a", "b"]
    assert MetadataCatalog.get("names.json").get("thing_dataset_id_to_contiguous_id") is None


def test_broken_categories_files_are_named(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("DATASETS:\n  TEST: ['names.json']\n")
    (tmp_path / "names.json").write_text("{not json")
    with pytest.raises(DatasetNotFoundError, match="names.json: not valid JSON"):
        new_cfg(config)
    (tmp_path / "names.json").write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(DatasetNotFoundError, match="each with an 'id' and a 'name'"):
        new_cfg(config)


def test_tensors_kept_aside_are_exact_in_every_precision():
    tensors = {
        "a": torch.randn(5).to(torch.bfloat16),
        "b": torch.randn(3).half(),
        "c": torch.randn(2, 2, dtype=torch.float64),
        "n": torch.tensor(7),
    }
    back = carried_from_json(carried_to_json(tensors))
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k


def test_command_line_round_trip(tmp_path, capsys):
    saved_model("maskformer-resnet50-stride-in-1x1", tmp_path / "hf")
    assert (
        run_cli(
            convert_tool.main, [str(tmp_path / "hf"), str(tmp_path / "ours"), "--format", "pth"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Kept aside for the way back 53 tensors" in out  # BatchNorm step counters
    config = tmp_path / "ours" / "config.yaml"
    assert "Base-MaskFormer.yaml" in config.read_text()  # the published recipe
    cfg = new_cfg(config)
    assert cfg.SOLVER.BACKBONE_MULTIPLIER == 0.1 and cfg.MODEL.RESNETS.STRIDE_IN_1X1
    weights = str(tmp_path / "ours" / "model_final.pth")
    assert (
        run_cli(
            convert_tool.main, ["--to-transformers", str(config), weights, str(tmp_path / "back")]
        )
        == 0
    )
    original = load_file(str(tmp_path / "hf" / "model.safetensors"))
    written = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert set(original) == set(written) and all(
        torch.equal(original[k], written[k]) for k in original
    )


def test_image_processor_settings_carry_over(tmp_path):
    saved_model("mask2former-resnet50", tmp_path / "hf")
    processor = transformers.Mask2FormerImageProcessor(
        size={"shortest_edge": 512, "longest_edge": 2048},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
    )
    processor.save_pretrained(str(tmp_path / "hf"))
    imported = import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "ours"))
    cfg = new_cfg(imported.config_file)
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (512, 2048)
    assert list(cfg.MODEL.PIXEL_MEAN) == [127.5] * 3 and list(cfg.MODEL.PIXEL_STD) == [63.75] * 3
    export_checkpoint(imported.config_file, imported.weights_file, str(tmp_path / "back"))
    back = transformers.AutoImageProcessor.from_pretrained(str(tmp_path / "back"))
    assert list(back.image_mean) == [0.5] * 3 and list(back.image_std) == [0.25] * 3
    assert (back.size["shortest_edge"], back.size["longest_edge"]) == (512, 2048)


@pytest.mark.slow
def test_converted_checkpoint_evaluates_fine_tunes_and_goes_back(tmp_path):
    """The whole path of docs/weights.md on the generated shapes dataset: a transformers model
    with its classes, converted with the dataset's metadata; train_net.py --eval-only; a few
    fine-tuning iterations; the fine-tuned weights back to transformers."""

    from helpers.training import generate_tiny_shapes
    from mask2former.data.datasets import datasets_root, load_categories, register_all

    names = [c["name"] for c in load_categories("shapes")]
    model = compare_tool.transformers_model("mask2former-swin-window7-224")
    config = transformers.Mask2FormerConfig.from_dict(
        {
            **model.config.to_dict(),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }
    )
    transformers.Mask2FormerForUniversalSegmentation(config).save_pretrained(str(tmp_path / "hf"))
    from mask2former.commands import train_net

    register_all(generate_tiny_shapes(tmp_path / "datasets"))
    try:
        status = run_cli(
            convert_tool.main,
            [
                str(tmp_path / "hf"),
                str(tmp_path / "ours"),
                "--dataset",
                "shapes_panoptic_val",
                "--task",
                "semantic",
                "--task",
                "panoptic",
            ],
        )
        assert status == 0 and not (tmp_path / "ours" / "categories.json").exists()
        config_file = str(tmp_path / "ours" / "config.yaml")
        small = [*SMALL_TEST_INPUT, "DATALOADER.NUM_WORKERS", "0", "SOLVER.AMP.ENABLED", "False"]
        args = train_net.parse_args(
            [
                "--config-file",
                config_file,
                "--eval-only",
                *small,
                "OUTPUT_DIR",
                str(tmp_path / "eval"),
            ]  # DATASETS.TEST: shapes_panoptic_val
        )
        results = train_net.main(args)
        assert (
            0.0 <= results["sem_seg"]["mIoU"] <= 100.0
            and 0.0 <= results["panoptic_seg"]["PQ"] <= 100.0
        )

        args = train_net.parse_args(
            [
                "--config-file",
                config_file,
                *small,
                "DATASETS.TRAIN",
                "('shapes_sem_seg_train',)",
                "DATASETS.TEST",
                "()",
                "MODEL.MASK_FORMER.TEST.PANOPTIC_ON",
                "False",
                "SOLVER.MAX_ITER",
                "2",
                "SOLVER.IMS_PER_BATCH",
                "2",
                "SOLVER.WARMUP_ITERS",
                "0",
                "INPUT.MIN_SIZE_TRAIN",
                "(64,)",
                "INPUT.MAX_SIZE_TRAIN",
                "128",
                "INPUT.CROP.ENABLED",
                "False",
                "INPUT.SIZE_DIVISIBILITY",
                "64",
                "MODEL.MASK_FORMER.TRAIN_NUM_POINTS",
                "256",
                "OUTPUT_DIR",
                str(tmp_path / "train"),
            ]
        )
        train_net.main(args)
    finally:
        register_all(datasets_root())
    fine_tuned = tmp_path / "train" / "model_final.pth"
    export_checkpoint(config_file, str(fine_tuned), str(tmp_path / "back"))
    hf, info = transformers.Mask2FormerForUniversalSegmentation.from_pretrained(
        str(tmp_path / "back"), output_loading_info=True
    )
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert hf.config.id2label == dict(enumerate(names))
    before = load_file(str(tmp_path / "hf" / "model.safetensors"))
    after = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert not torch.equal(before["class_predictor.weight"], after["class_predictor.weight"])
