"""FLOP / activation / parameter counts (mask2former/utils/analysis.py, tools/analyze_model.py): the
deformable-attention handle against a hand count on both of its paths, the attention handle
against fvcore's count of explicit attention, and the tool's averages and parameter totals."""

import os

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from helpers.configs import make_tiny_cfg
from helpers.paths import REPO
from helpers.scripts import load_script
from mask2former.layers import compiled_op_available, use_reference_ops
from mask2former.utils.analysis import count_over_inputs, flop_count_analysis


def _tool():
    return load_script("tools/analyze_model.py")


def _counts(model, h, w, reference):
    """(FLOPs by operator, FLOPs by module and operator) of ``model`` on one h x w image."""
    with use_reference_ops(reference), torch.no_grad():
        analysis = flop_count_analysis(
            model, [{"image": torch.zeros(3, h, w), "height": h, "width": w}]
        )
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.by_operator(), analysis.by_module_and_operator()


ENCODER_LAYERS = 2


@pytest.fixture(scope="module")
def tiny_counts():
    """Counts of the tiny Mask2Former with 2 encoder layers on a 64x128 image, with the compiled
    deformable attention and fused attention, and in reference mode (grid_sample, explicit
    attention)."""
    if not compiled_op_available("cpu"):
        pytest.fail("the compiled mask2former._C operator is not built")
    cfg = make_tiny_cfg()
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = ENCODER_LAYERS
    model = build_model(cfg).eval()
    return {reference: _counts(model, 64, 128, reference) for reference in (False, True)}


def _ms_deform_attn_by_hand(h, w, layers):
    """The encoder attends from every position of the stride 8, 16, 32 levels to 4 points per
    level and head (4 heads of 32 / 4 channels): per query, head, level and point 4 + 1
    multiply-adds per channel."""
    queries = sum((h // s) * (w // s) for s in (8, 16, 32))
    heads, levels, points, channels_per_head = 4, 3, 4, 32 // 4
    return (4 + 1) * queries * heads * levels * points * channels_per_head * layers


@pytest.mark.parametrize("reference", [False, True])
def test_ms_deform_attn_flops_by_hand(tiny_counts, reference):
    by_operator, _ = tiny_counts[reference]
    operator = "grid_sampler" if reference else "ms_deform_attn"
    assert by_operator[operator] == _ms_deform_attn_by_hand(64, 128, ENCODER_LAYERS)


def test_ms_deform_attn_flops_by_hand_square_input():
    by_operator, _ = _counts(build_model(make_tiny_cfg()).eval(), 64, 64, reference=False)
    assert by_operator["ms_deform_attn"] == _ms_deform_attn_by_hand(64, 64, layers=1)


def test_attention_flops_equal_explicit_attention(tiny_counts):
    """F.scaled_dot_product_attention is counted as fvcore counts the two matmuls of the
    reference path's explicit attention, layer by layer."""
    (_, fused), (_, explicit) = tiny_counts[False], tiny_counts[True]
    layers = [
        f"model.sem_seg_head.predictor.transformer_{kind}_attention_layers.{i}"
        for kind in ("self", "cross") for i in range(3)
    ]  # fmt: skip
    for name in layers:
        assert fused[name]["scaled_dot_product_attention"] == explicit[name]["matmul"] > 0, name
        assert sum(fused[name].values()) == sum(explicit[name].values()), name
    # self-attention of 8 queries, 4 heads of 8 channels: 8 * 8 * (8 + 8) * 4 multiply-adds
    assert fused[layers[0]]["scaled_dot_product_attention"] == 8 * 8 * 16 * 4


def test_tool_flops_averaged_over_dataset_images(shapes_root):
    cfg = make_tiny_cfg()
    cfg.DATASETS.TEST = ("shapes_sem_seg_val",)
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 96, 128
    config = shapes_root / "tiny_shapes.yaml"
    config.write_text(cfg.dump())
    results = _tool().run(
        [
            "--tasks",
            "flop",
            "parameter",
            "-n",
            "2",
            "--random-weights",
            "--config-file",
            str(config),
        ]
    )

    flops = results["flop"]
    assert len(flops["totals"]) == 2
    assert flops["mean"] == pytest.approx(np.mean(flops["totals"]))
    assert len(set(flops["totals"])) > 1  # the images differ in size, so do their counts
    # the first count is that of the first test image as evaluation loads it
    from detectron2.data import build_detection_test_loader

    model = build_model(cfg).eval()
    first = next(iter(build_detection_test_loader(cfg, "shapes_sem_seg_val")))
    with torch.no_grad():
        direct = count_over_inputs(flop_count_analysis, model, [first])
    assert flops["totals"][0] == direct["mean"]
    assert results["parameter"] == sum(p.numel() for p in model.parameters())


def test_tool_counts_the_reference_model(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(make_tiny_cfg().dump())
    common = [
        "--tasks",
        "flop",
        "--input-size",
        "64",
        "64",
        "--random-weights",
        "--config-file",
        str(config),
    ]
    fast = _tool().run(common)["flop"]
    reference = _tool().run(common + ["--reference"])["flop"]
    assert "ms_deform_attn" in fast["by_operator"] and "grid_sampler" not in fast["by_operator"]
    assert (
        "grid_sampler" in reference["by_operator"]
        and "ms_deform_attn" not in reference["by_operator"]
    )
    # the published decoder resizes every full-resolution mask prediction for its attention masks
    assert reference["mean"] > fast["mean"]


def test_tool_requires_weights_or_random_weights(tmp_path):
    from mask2former.engine.predictor import MissingWeightsError

    config = tmp_path / "tiny.yaml"
    config.write_text(make_tiny_cfg().dump())
    with pytest.raises(MissingWeightsError):
        _tool().run(["--tasks", "flop", "--input-size", "64", "64", "--config-file", str(config)])


@pytest.mark.parametrize(
    "config, parameters",
    [
        # the "# parameters:" headers of the published checkpoints' key lists
        ("configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml", 43988247),
        ("configs/maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml", 41254743),
    ],
)
def test_tool_parameter_count_of_published_configs(config, parameters):
    results = _tool().run(
        ["--tasks", "parameter", "--config-file", os.path.join(REPO, config), "MODEL.DEVICE", "cpu"]
    )
    assert results["parameter"] == parameters
