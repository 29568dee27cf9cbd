"""mask2former.export.preprocess / postprocess, without any exporter: fed with the network
outputs of the PyTorch model, they give the predictor's (and so demo/demo.py's) results, for a
semantic-only model (masks resized after semantic inference) and a model computing all three
tasks (masks resized before). Any runtime that runs the exported network gives those outputs."""

import numpy as np
import pytest
import torch

from helpers.configs import make_tiny_cfg
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.export import (
    ExportableMaskFormer,
    InferenceSpec,
    postprocess,
    preprocess,
)


def _predictor(tasks, decoder="MultiScaleMaskedTransformerDecoder"):
    cfg = make_tiny_cfg(decoder)
    for task in ("SEMANTIC_ON", "PANOPTIC_ON", "INSTANCE_ON"):
        cfg.MODEL.MASK_FORMER.TEST[task] = task in tasks
    predictor = MaskFormerPredictor(cfg, random_weights=True)
    model = predictor.model
    if "PANOPTIC_ON" in tasks:
        model.thing_ids = (0, 1)
        model.object_mask_threshold = 0.0
        model.overlap_threshold = 0.0
    with torch.no_grad():
        model.sem_seg_head.predictor.class_embed.bias[-1] = -10.0  # few "no object" queries
    return predictor


@pytest.mark.parametrize(
    "tasks", [("SEMANTIC_ON",), ("SEMANTIC_ON", "PANOPTIC_ON", "INSTANCE_ON")],
    ids=["semantic-only", "all-tasks"],
)  # fmt: skip
# the last two: Detectron2's resize would make a side of 0 pixels, the predictor's keeps 1
@pytest.mark.parametrize("shape", [(50, 70), (80, 60), (64, 64), (1, 1000), (1000, 1)])
def test_postprocess_of_network_outputs_gives_the_predictor_results(tasks, shape):
    predictor = _predictor(tasks)
    spec = predictor.model.inference_spec
    assert spec.sem_seg_postprocess_before_inference == (len(tasks) > 1)
    image = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = predictor(image)
        images, image_size = preprocess(image, spec)
        logits, masks = ExportableMaskFormer(predictor.model).eval()(torch.from_numpy(images))
    # numpy in, as from onnxruntime
    (result,) = postprocess(
        logits.numpy(), masks.numpy(), spec, images.shape[-2:], [image_size], [shape]
    )
    assert set(result) == set(expected)
    assert result["sem_seg"].shape == (5, *shape)
    torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=1e-5, atol=1e-5)
    if "panoptic_seg" in expected:
        seg, info = result["panoptic_seg"]
        assert len(info) > 0 and info == expected["panoptic_seg"][1]
        assert torch.equal(seg, expected["panoptic_seg"][0])
        for field in ("pred_masks", "pred_classes"):
            assert torch.equal(result["instances"].get(field), expected["instances"].get(field))
        torch.testing.assert_close(result["instances"].scores, expected["instances"].scores)


@pytest.mark.parametrize(
    "decoder", ["MultiScaleMaskedTransformerDecoder", "StandardTransformerDecoder"],
    ids=["mask2former", "maskformer"],
)  # fmt: skip
def test_exported_spec_carries_the_release_panoptic_rule(decoder):
    """The spec (and its JSON) keeps the model's panoptic rule, and post-processing follows it:
    a thing query wins columns 0-2 of a 4x4 image with mask probabilities .45, .45, .27, its
    own mask (>= .5) is column 3, won by a stuff query. MaskFormer's rule gives the thing
    query the pixels it wins, Mask2Former's leaves them void."""
    predictor = _predictor(("SEMANTIC_ON", "PANOPTIC_ON"), decoder)
    spec = predictor.model.inference_spec
    maskformer_release = decoder == "StandardTransformerDecoder"
    assert spec.panoptic_within_mask is not maskformer_release
    spec = InferenceSpec.from_json(spec.to_json())
    assert spec.panoptic_within_mask is not maskformer_release

    thing, stuff = 0, 2  # _predictor's thing classes are 0 and 1
    logits = np.zeros((1, 2, spec.num_classes + 1), dtype=np.float32)
    logits[0, 0, thing] = logits[0, 1, stuff] = 10.0
    row = np.array([[-0.2, -0.2, -1.0, 0.5], [-10.0, -10.0, -10.0, 10.0]], dtype=np.float32)
    masks = np.broadcast_to(row[None, :, None, :], (1, 2, 4, 4)).copy()
    (result,) = postprocess(logits, masks, spec, (4, 4), [(4, 4)], [(4, 4)])
    seg, info = result["panoptic_seg"]
    expected_row = [1, 1, 1, 2] if maskformer_release else [0, 0, 0, 1]
    assert seg.tolist() == [expected_row] * 4
    assert [s["category_id"] for s in info] == ([thing, stuff] if maskformer_release else [stuff])
