"""Inference outputs of the MaskFormer meta-architecture: which results each
MODEL.MASK_FORMER.TEST.*_ON combination returns, their Detectron2 formats, and resizing to
the requested height and width; its inference settings and the published constructor."""

import dataclasses

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from torch.nn import functional as F

from helpers.configs import make_tiny_cfg
from mask2former.modeling.meta_arch import MaskFormer
from mask2former.modeling.postprocessing import InferenceSpec

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
    [
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (True, True, True),
        (False, True, True),
    ],
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
    padded = F.interpolate(
        out["pred_masks"], size=images.tensor.shape[-2:], mode="bilinear", align_corners=False
    )
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
            expected.append(
                F.interpolate(sem[None], size=size, mode="bilinear", align_corners=False)[0]
            )
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


def test_model_holds_the_inference_settings_of_its_config():
    cfg = make_tiny_cfg()
    cfg.DATASETS.TRAIN = (DATASET,)
    cfg.INPUT.FORMAT = "RGB"
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    cfg.MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD = 0.6
    cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY = -1  # the backbone's (a ResNet's: 0)
    model = build_model(cfg)
    spec = model.inference_spec
    assert spec == dataclasses.replace(InferenceSpec.from_config(cfg), size_divisibility=0)
    assert (spec.input_format, spec.min_size_test, spec.max_size_test) == ("RGB", 64, 64)
    assert spec.pixel_mean == tuple(cfg.MODEL.PIXEL_MEAN) and spec.num_classes == 5
    assert spec.thing_ids == (0, 1, 2) and spec.panoptic_within_mask
    assert spec.overlap_threshold == 0.6
    assert spec.sem_seg_postprocess_before_inference  # panoptic inference needs full masks
    assert model.pixel_mean.flatten().tolist() == pytest.approx(cfg.MODEL.PIXEL_MEAN)
    # the published attributes read and set the spec
    assert model.overlap_threshold == 0.6 and model.size_divisibility == 0
    model.thing_ids = (0, 1)
    model.instance_on = True
    assert model.inference_spec == dataclasses.replace(spec, thing_ids=(0, 1), instance_on=True)


def test_published_constructor_keywords():
    """The published release's MaskFormer(...) keywords build the model that from_config builds."""
    cfg = make_tiny_cfg()
    cfg.DATASETS.TRAIN = (DATASET,)
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    torch.manual_seed(0)
    from_config = build_model(cfg).eval()
    parts = MaskFormer.from_config(cfg)
    test = cfg.MODEL.MASK_FORMER.TEST
    published = MaskFormer(
        backbone=parts["backbone"],
        sem_seg_head=parts["sem_seg_head"],
        criterion=parts["criterion"],
        num_queries=8,
        object_mask_threshold=test.OBJECT_MASK_THRESHOLD,
        overlap_threshold=test.OVERLAP_THRESHOLD,
        metadata=MetadataCatalog.get(DATASET),
        size_divisibility=cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY,
        sem_seg_postprocess_before_inference=True,
        pixel_mean=cfg.MODEL.PIXEL_MEAN,
        pixel_std=cfg.MODEL.PIXEL_STD,
        semantic_on=True,
        panoptic_on=True,
        instance_on=False,
        test_topk_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
    ).eval()
    # what the published keywords lack: Detectron2's default input format and test-time resize
    defaults = get_cfg().INPUT
    assert published.inference_spec == dataclasses.replace(
        from_config.inference_spec,
        input_format=defaults.FORMAT,
        min_size_test=defaults.MIN_SIZE_TEST,
        max_size_test=defaults.MAX_SIZE_TEST,
    )
    published.load_state_dict(from_config.state_dict())
    inputs = _inputs()
    with torch.no_grad():
        for a, b in zip(published(inputs), from_config(inputs)):
            assert torch.equal(a["sem_seg"], b["sem_seg"])
            assert torch.equal(a["panoptic_seg"][0], b["panoptic_seg"][0])
    # the MaskFormer release's panoptic rule comes with its transformer decoder
    maskformer_cfg = make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")
    parts = MaskFormer.from_config(maskformer_cfg)
    spec = parts.pop("inference_spec")
    published_keywords = (
        "object_mask_threshold", "overlap_threshold", "size_divisibility",
        "sem_seg_postprocess_before_inference", "pixel_mean", "pixel_std", "semantic_on",
        "panoptic_on", "instance_on", "test_topk_per_image",
    )  # fmt: skip
    settings = {k: getattr(spec, k) for k in published_keywords}
    assert not MaskFormer(**parts, metadata=None, **settings).panoptic_within_mask
    with pytest.raises(TypeError, match="got inference_spec and overlap_threshold"):
        MaskFormer(**parts, inference_spec=spec, overlap_threshold=0.5)
