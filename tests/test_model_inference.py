"""Inference outputs of the MaskFormer meta-architecture: which results each
MODEL.MASK_FORMER.TEST.*_ON combination returns, their Detectron2 formats, and resizing to
the requested height and width."""
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from torch.nn import functional as F

from conftest import make_tiny_cfg

DATASET = "test_model_inference_tiny_panoptic"


@pytest.fixture(scope="module", autouse=True)
def _metadata():
    # classes 0-2 are things, 3-4 stuff
    MetadataCatalog.get(DATASET).set(thing_dataset_id_to_contiguous_id={10: 0, 11: 1, 12: 2})
    yield
    MetadataCatalog.remove(DATASET)


def _model(semantic, panoptic, instance, before=False, arch="mask2former"):
    cfg = (
        make_tiny_cfg()
        if arch == "mask2former"
        else make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")
    )
    cfg.DATASETS.TRAIN = (DATASET,)
    cfg.TEST.DETECTIONS_PER_IMAGE = 6
    t = cfg.MODEL.MASK_FORMER.TEST
    t.SEMANTIC_ON, t.PANOPTIC_ON, t.INSTANCE_ON = semantic, panoptic, instance
    t.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE = before
    # keep every query so that panoptic results are not empty for an untrained model
    t.OBJECT_MASK_THRESHOLD = 0.0
    return build_model(cfg).eval()


def _inputs():
    # different unpadded sizes in one batch, outputs requested at other sizes
    return [
        {"image": torch.randint(0, 256, (3, 64, 48)).float(), "height": 128, "width": 96},
        {"image": torch.randint(0, 256, (3, 40, 64)).float(), "height": 30, "width": 50},
    ]


@pytest.mark.parametrize(
    "flags",
    [(True, False, False), (False, True, False), (False, False, True), (True, True, True), (False, True, True)],
)
def test_output_formats(flags):
    semantic, panoptic, instance = flags
    model = _model(*flags)
    with torch.no_grad():
        results = model(_inputs())
    assert len(results) == 2
    for result, (h, w) in zip(results, [(128, 96), (30, 50)]):
        expected_keys = {k for k, on in zip(("sem_seg", "panoptic_seg", "instances"), flags) if on}
        assert set(result) == expected_keys
        if semantic:
            assert result["sem_seg"].shape == (5, h, w)
            assert result["sem_seg"].dtype == torch.float32
        if panoptic:
            seg, info = result["panoptic_seg"]
            assert seg.shape == (h, w) and seg.dtype == torch.int32
            assert set(seg.unique().tolist()) <= {0} | {s["id"] for s in info}
            for s in info:
                assert set(s) >= {"id", "isthing", "category_id"}
                assert s["isthing"] == (s["category_id"] in (0, 1, 2))
        if instance:
            inst = result["instances"]
            assert inst.image_size == (h, w)
            assert len(inst) <= 6
            assert inst.pred_masks.shape[1:] == (h, w) and inst.pred_masks.dtype == torch.bool
            assert inst.pred_boxes.tensor.shape == (len(inst), 4)
            assert inst.scores.shape == (len(inst),)
            assert inst.pred_classes.dtype == torch.int64
            if panoptic:  # a panoptic model's instances are things only
                assert set(inst.pred_classes.tolist()) <= {0, 1, 2}


def test_at_least_one_output_required():
    with pytest.raises(ValueError, match="SEMANTIC_ON"):
        _model(False, False, False)


def _expected_semantic(model, inputs, before):
    """Semantic scores computed by hand from the head's raw outputs."""
    images = model.preprocess_image(inputs)
    with torch.no_grad():
        out = model.sem_seg_head(model.backbone(images.tensor))
    padded = F.interpolate(out["pred_masks"], size=images.tensor.shape[-2:], mode="bilinear", align_corners=False)
    expected = []
    for i, x in enumerate(inputs):
        (h, w), size = images.image_sizes[i], (x["height"], x["width"])
        probs = out["pred_logits"][i].softmax(-1)[:, :-1]
        masks = padded[i, :, :h, :w]
        if before:
            masks = F.interpolate(masks[None], size=size, mode="bilinear", align_corners=False)[0]
            expected.append(torch.einsum("qk,qhw->khw", probs, masks.sigmoid()))
        else:
            sem = torch.einsum("qk,qhw->khw", probs, masks.sigmoid())
            expected.append(F.interpolate(sem[None], size=size, mode="bilinear", align_corners=False)[0])
    return expected


@pytest.mark.parametrize("before", [False, True])
@pytest.mark.parametrize("arch", ["mask2former", "maskformer"])
def test_semantic_result_is_cropped_and_resized(before, arch):
    model = _model(True, False, False, before=before, arch=arch)
    inputs = _inputs()
    with torch.no_grad():
        results = model(inputs)
    for result, expected in zip(results, _expected_semantic(model, inputs, before)):
        torch.testing.assert_close(result["sem_seg"], expected, atol=1e-5, rtol=1e-4)


def test_panoptic_needs_thing_classes():
    cfg = make_tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    model = build_model(cfg).eval()
    with pytest.raises(ValueError, match="thing"):
        with torch.no_grad():
            model(_inputs()[:1])


def test_inference_mode_and_without_requested_size():
    model = _model(True, False, False)
    inputs = [{"image": torch.randint(0, 256, (3, 50, 45)).float()}]
    with torch.inference_mode():
        results = model(inputs)
    assert results[0]["sem_seg"].shape == (5, 50, 45)
