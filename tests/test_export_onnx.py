"""Export of the tiny Mask2Former: torch.export program and ONNX (run by onnxruntime) against
the PyTorch model, on two input sizes from one dynamic export, and the exported files'
end-to-end results against the predictor's.

One dynamic export (and its ONNX conversion) is shared by the module: tracing with symbolic
sizes is the slow part (~1 min of CPU for both)."""

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch

from helpers.configs import make_tiny_cfg, tiny_config_file
from helpers.scripts import load_script, onnx_export_args
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.errors import UsageError
from mask2former.export import (
    ExportableMaskFormer,
    ExportedPredictor,
    InferenceSpec,
    export_program,
    ms_deform_attn_onnx,
    preprocess,
    save_onnx,
    save_program,
)
from mask2former.layers import compiled_op_available, ms_deform_attn_reference

pytestmark = pytest.mark.skipif(
    not compiled_op_available("cpu"), reason="export needs the compiled mask2former._C operator"
)

SIZES = [(64, 64), (96, 128)]
THING_IDS = (0, 1)


def _tiny_predictor():
    cfg = make_tiny_cfg()
    for task in ("SEMANTIC_ON", "PANOPTIC_ON", "INSTANCE_ON"):
        cfg.MODEL.MASK_FORMER.TEST[task] = True
    torch.manual_seed(0)
    predictor = MaskFormerPredictor(cfg, random_weights=True)
    model = predictor.model
    # no dataset metadata in the tiny config: name the thing classes by hand; keep every
    # query in panoptic inference so that the untrained model yields segments
    model.thing_ids = THING_IDS
    model.object_mask_threshold = 0.0
    model.overlap_threshold = 0.0
    with torch.no_grad():
        model.sem_seg_head.predictor.class_embed.bias[-1] = -10.0  # few "no object" queries
    return predictor


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny predictor, its spec, and ExportedPredictors of its dynamic export as .pt2 and
    .onnx files (each loaded once: loading a dynamic .pt2 is slow)."""
    predictor = _tiny_predictor()
    spec = predictor.model.inference_spec
    program = export_program(predictor.model, spec, (64, 64), dynamic=True)
    folder = tmp_path_factory.mktemp("export")
    pt2, onnx_path = str(folder / "model.pt2"), str(folder / "model.onnx")
    save_program(program, spec, pt2)
    save_onnx(program, spec, onnx_path)
    return predictor, spec, ExportedPredictor(pt2), ExportedPredictor(onnx_path), onnx_path


def _random_images(batch, size, seed):
    return torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


def _reference_outputs(predictor, images):
    with torch.no_grad():
        return [t.numpy() for t in ExportableMaskFormer(predictor.model).eval()(images)]


@pytest.mark.parametrize("batch,size", [(1, SIZES[0]), (2, SIZES[1])])
def test_exported_program_matches_pytorch(exported, batch, size):
    predictor, _, program_predictor, _, _ = exported
    images = _random_images(batch, size, seed=batch)
    expected = _reference_outputs(predictor, images)
    outputs = program_predictor.network(images.numpy())
    assert outputs[1].shape == (batch, 8, size[0] // 4, size[1] // 4)
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch,size", [(1, SIZES[0]), (2, SIZES[1])])
def test_onnx_matches_pytorch(exported, batch, size):
    predictor, _, _, onnx_predictor, _ = exported
    images = _random_images(batch, size, seed=10 + batch)
    expected = _reference_outputs(predictor, images)
    outputs = onnx_predictor.network(images.numpy())
    assert outputs[1].shape == (batch, 8, size[0] // 4, size[1] // 4)
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_onnx_uses_standard_operators_only(exported):
    import onnx

    model = onnx.load(exported[4])
    domains = {node.domain for node in model.graph.node}
    functions = {f.name for f in model.functions}
    assert domains <= {"", "ai.onnx"}, domains
    assert not functions, functions  # the deformable attention is expanded, not a custom node
    assert "GridSample" in {node.op_type for node in model.graph.node}


def _bgr_image(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_exported_program_gives_the_predictor_results(exported):
    predictor, spec, exported_predictor, _, _ = exported
    assert exported_predictor.spec == spec
    image = _bgr_image(50, 70, seed=3)  # resized to 46x64, padded to 64x64, output 50x70
    with torch.no_grad():
        expected = predictor(image)
    result = exported_predictor(image)
    # the exported program computes the very same numbers, so results are identical
    torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=0, atol=0)
    assert result["sem_seg"].shape == (5, 50, 70)
    seg, info = result["panoptic_seg"]
    expected_seg, expected_info = expected["panoptic_seg"]
    assert len(info) > 0
    assert torch.equal(seg, expected_seg) and info == expected_info
    for field in ("pred_masks", "scores", "pred_classes"):
        assert torch.equal(result["instances"].get(field), expected["instances"].get(field))


def test_onnx_gives_the_predictor_results(exported):
    predictor, _, _, onnx_predictor, _ = exported
    image = _bgr_image(80, 60, seed=4)  # resized to 64x48, padded to 64x64
    with torch.no_grad():
        expected = predictor(image)
    result = onnx_predictor(image)
    torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=1e-4, atol=1e-4)
    # argmax-based outputs may flip only where two candidates tie within float error
    seg, info = result["panoptic_seg"]
    agreement = (seg == expected["panoptic_seg"][0]).float().mean().item()
    assert agreement > 0.99 and len(info) > 0
    torch.testing.assert_close(
        result["instances"].scores, expected["instances"].scores, rtol=1e-4, atol=1e-4
    )


def test_ms_deform_attn_onnx_matches_reference(tmp_path):
    """The standard-operator decomposition alone, with locations outside the feature maps
    (zero padding) and levels of different sizes."""

    class DeformAttn(torch.nn.Module):
        def forward(self, value, spatial_shapes, level_start_index, locations, weights):
            return torch.ops.mask2former.ms_deform_attn(
                value, spatial_shapes, level_start_index, locations, weights
            )

    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[6, 5], [3, 3], [2, 1]])
    areas = shapes.prod(1)
    starts = torch.cat((areas.new_zeros(1), areas.cumsum(0)[:-1]))
    args = (
        torch.randn(2, int(areas.sum()), 4, 8, generator=g),
        shapes,
        starts,
        torch.rand(2, 7, 4, 3, 2, 2, generator=g) * 1.4 - 0.2,
        torch.rand(2, 7, 4, 3, 2, generator=g),
    )
    path = str(tmp_path / "ms_deform_attn.onnx")
    torch.onnx.export(
        DeformAttn().eval(),
        args,
        path,
        dynamo=True,
        custom_translation_table={
            torch.ops.mask2former.ms_deform_attn.default: ms_deform_attn_onnx
        },
        verbose=False,
    )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    # constant inputs (the level layout) may be folded into the graph
    feeds = {
        n: a.numpy()
        for n, a in zip(
            ("value", "spatial_shapes", "level_start_index", "locations", "weights"), args
        )
        if n in names
    }
    out = session.run(None, feeds)[0]
    np.testing.assert_allclose(out, ms_deform_attn_reference(*args).numpy(), rtol=1e-5, atol=1e-5)


def _export_model_tool():
    return load_script("tools/export_model.py", "export_model_cli")


def test_export_model_cli(tmp_path, capsys):
    main = _export_model_tool().main
    config = tiny_config_file("base")
    output = str(tmp_path / "tiny.pt2")
    argv = [
        "--config-file",
        config,
        "--random-weights",
        "--format",
        "exported-program",
        "--output",
        output,
        "--size",
        "64",
        "64",
        "--verify",
    ]
    assert main(argv) == 0
    assert ExportedPredictor(output).spec.fixed_input_size == (64, 64)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("64x64: max |difference| pred_logits 0,"), line
    with pytest.raises(UsageError, match="must end in .onnx"):
        main(argv[:3] + ["--format", "onnx"] + argv[5:])
    with pytest.raises(UsageError, match="multiples of 32"):
        main(argv[:-4] + ["--size", "64", "50"])


def test_export_model_mistakes_name_its_own_flags(tmp_path, capsys):
    """Missing weights: one line that names --weights, the flag this tool takes (not
    MODEL.WEIGHTS); a config by its shipped name; overrides after the options."""
    cli = _export_model_tool().cli
    common = onnx_export_args(tiny_config_file("base"), tmp_path / "m.onnx")
    assert cli(common + ["--weights", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"MODEL.WEIGHTS file not found: {tmp_path / 'none.pth'}" in err
    assert "another file with `--weights FILE`" in err and "--opts" not in err
    assert cli(common + ["--random-weights", "MODEL.MASK_FORMER.NUM_QUERIES", "3"]) == 2
    assert "command-line override MODEL.MASK_FORMER.NUM_QUERIES: unknown" in capsys.readouterr().err
    assert cli(common[:1] + ["quickstart/semantik.yaml"] + common[2:] + ["--random-weights"]) == 2
    assert "did you mean quickstart/semantic.yaml" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_spec_json_round_trip_and_errors():
    predictor = _tiny_predictor()
    spec = dataclasses.replace(predictor.model.inference_spec, fixed_input_size=(64, 96))
    assert InferenceSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="model.onnx: .* must have the keys"):
        InferenceSpec.from_json('{"num_classes": 5}', "model.onnx")


def test_fixed_size_export_pads_to_its_size():
    spec = dataclasses.replace(_tiny_predictor().model.inference_spec, fixed_input_size=(64, 96))
    image = _bgr_image(30, 90, seed=5)  # resized to 21x64
    images, image_size = preprocess(image, spec)
    assert images.shape == (1, 3, 64, 96) and image_size == (21, 64)
    assert (images[..., 21:, :] == 0).all() and (images[..., 64:] == 0).all()
    with pytest.raises(ValueError, match="larger than the exported input size"):
        preprocess(image, dataclasses.replace(spec, fixed_input_size=(64, 32)))


@pytest.mark.parametrize("shape", [(1, 1000), (1000, 1)])
def test_exported_model_keeps_a_pixel_of_extreme_aspect_ratios(exported, shape):
    """The predictor's test-time resize keeps a side of 1 pixel where Detectron2's rounds it to
    0 (1000 x 1 to 64 x 0 here); the exported model resizes the same way and gives the
    predictor's results at the input's size. (ONNX: the dynamic .pt2 program of the tiny model
    takes no input side below 64, a 1 x 64 image being padded to 32 x 64.)"""
    predictor, _, _, onnx_predictor, _ = exported
    image = _bgr_image(*shape, seed=6)
    with torch.no_grad():
        expected = predictor(image)
    result = onnx_predictor(image)
    assert result["sem_seg"].shape == (5, *shape)
    torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=1e-4, atol=1e-4)
    seg, info = result["panoptic_seg"]
    assert (seg == expected["panoptic_seg"][0]).float().mean().item() > 0.99 and len(info) > 0
    torch.testing.assert_close(
        result["instances"].scores, expected["instances"].scores, rtol=1e-4, atol=1e-4
    )
