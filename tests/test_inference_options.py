"""The inference options of MODEL.MASK_FORMER.TEST (docs/inference.md): the mask threshold,
the classes fused into one panoptic segment, panoptic segment scores and RLE instance masks,
on hand-built predictions; their config keys, defaults (the published results) and JSON."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model
from pycocotools import mask as mask_util

from helpers.configs import make_tiny_cfg
from helpers.postprocessing import (
    NUM_CLASSES,
    OTHER_THING,
    PREVIOUS_JSON,
    STUFF,
    THING,
    class_logits,
    column_masks,
    columns_of,
    spec,
)
from mask2former import add_maskformer2_config
from mask2former.config import add_inference_options_config, merge_config
from mask2former.modeling.postprocessing import (
    InferenceOptionError,
    InferenceSpec,
    instance_inference,
    panoptic_inference,
    postprocess_image,
)

PANOPTIC = dict(semantic_on=False, panoptic_on=True, thing_ids=(THING, OTHER_THING))


def panoptic(mask_cls, mask_pred, within_mask=True, **options):
    """Panoptic inference of the hand-built cases (thresholds 0.5) with ``options``."""
    return panoptic_inference(
        mask_cls,
        mask_pred,
        num_classes=NUM_CLASSES,
        object_mask_threshold=0.5,
        overlap_threshold=0.5,
        thing_ids=[THING, OTHER_THING],
        within_mask=within_mask,
        **options,
    )


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _graded_mask(rows: int):
    """(1, rows, 4) mask logits of one query: probability .6 in columns 0-1, .9 in column 2,
    certainly out of column 3."""
    masks = column_masks([0, 1, 2])[:, :rows]
    masks[0, :, :2] = _logit(0.6)
    masks[0, :, 2] = _logit(0.9)
    return masks


# --- mask threshold -------------------------------------------------------------------------


def test_mask_threshold_decides_the_panoptic_segment_pixels_and_the_overlap_area():
    """One thing query, certain of its class, mask probability .6 in columns 0-1 and .9 in
    column 2. At 0.5 its segment is columns 0-2; at 0.7 (Mask2Former's rule) only column 2,
    the pixels .6 being void; MaskFormer's rule keeps every pixel won."""
    masks = _graded_mask(4)
    cls = class_logits(THING)
    seg, _ = panoptic(cls, masks)
    assert columns_of(seg) == [1, 1, 1, 0]
    assert torch.equal(panoptic(cls, masks, mask_threshold=0.5)[0], seg)  # default
    seg, info = panoptic(cls, masks, mask_threshold=0.7)
    assert columns_of(seg) == [0, 0, 1, 0] and [s["category_id"] for s in info] == [THING]
    seg, _ = panoptic(cls, masks, within_mask=False, mask_threshold=0.7)
    assert columns_of(seg) == [1, 1, 1, 1]
    # above every mask probability: the query has no mask, so no segment
    seg, info = panoptic(cls, masks, mask_threshold=0.95)
    assert (seg == 0).all() and info == []


def test_mask_threshold_decides_the_instance_masks_and_their_scores():
    masks = _graded_mask(2)
    kwargs = dict(image_size=(2, 4), num_classes=NUM_CLASSES, topk=1)
    default = instance_inference(class_logits(THING), masks, **kwargs)
    assert default.pred_masks[0].sum() == 6
    assert torch.equal(
        instance_inference(class_logits(THING), masks, mask_threshold=0.5, **kwargs).pred_masks,
        default.pred_masks,
    )
    strict = instance_inference(class_logits(THING), masks, mask_threshold=0.7, **kwargs)
    assert strict.pred_masks[0].tolist() == [[False, False, True, False]] * 2
    assert strict.pred_boxes.tensor.tolist() == [[2.0, 0.0, 3.0, 2.0]]
    class_prob = torch.softmax(class_logits(THING)[0], 0)[THING]
    torch.testing.assert_close(strict.scores[0], class_prob * 0.9)
    torch.testing.assert_close(default.scores[0], class_prob * (4 * 0.6 + 2 * 0.9) / 6)


# --- fused classes and segment scores -------------------------------------------------------


def _two_per_class():
    """Two queries of the thing class (columns 0, 1) and two of the stuff class (2, 3)."""
    return class_logits(THING, THING, STUFF, STUFF), column_masks([0], [1], [2], [3])


@pytest.mark.parametrize(
    "fuse, expected_columns",
    [
        (None, [1, 2, 3, 3]),  # the releases' rule: stuff fused
        ({STUFF}, [1, 2, 3, 3]),
        (set(), [1, 2, 3, 4]),
        ({THING}, [1, 1, 2, 3]),
        ({THING, STUFF}, [1, 1, 2, 2]),
    ],
)
def test_fused_classes_give_one_segment_per_class(fuse, expected_columns):
    seg, info = panoptic(*_two_per_class(), fuse_ids=fuse)
    assert columns_of(seg) == expected_columns
    assert [s["id"] for s in info] == sorted(set(expected_columns))
    assert [s["isthing"] for s in info] == [s["category_id"] == THING for s in info]


def test_segment_scores_are_class_probabilities_the_highest_of_a_fused_segment():
    cls, masks = _two_per_class()
    cls[0, THING] = cls[3, STUFF] = 2.0  # less sure: probability of 2.0 against 0, 0, 0
    seg, info = panoptic(cls, masks, with_scores=True)
    probs = torch.softmax(cls, -1).max(-1).values.tolist()
    assert [(s["category_id"], s["score"]) for s in info] == [
        (THING, probs[0]),
        (THING, probs[1]),
        (STUFF, probs[2]),  # queries 2 and 3 fused: the higher
    ]
    assert probs[3] < probs[2] and probs[0] < probs[1]
    without, info_without = panoptic(cls, masks)
    assert torch.equal(seg, without)
    assert info_without == [{k: v for k, v in s.items() if k != "score"} for s in info]


def test_spec_resolves_the_fused_class_names():
    assert spec().fused_class_ids() == {STUFF}
    assert spec(panoptic_fuse_classes=["thing"]).fused_class_ids() == {THING, OTHER_THING}
    assert spec(panoptic_fuse_classes=["stuff", 1]).fused_class_ids() == {STUFF, OTHER_THING}
    assert spec(panoptic_fuse_classes=[]).fused_class_ids() == set()


def test_postprocessing_follows_the_spec_options():
    cls, masks = _two_per_class()
    result = postprocess_image(
        cls,
        masks,
        spec(**PANOPTIC, panoptic_fuse_classes=("thing",), panoptic_segment_scores=True),
        (4, 4),
        (4, 4),
    )
    seg, info = result["panoptic_seg"]
    assert columns_of(seg) == [1, 1, 2, 3] and all("score" in s for s in info)


# --- RLE instance masks ---------------------------------------------------------------------


def test_rle_instance_masks_decode_to_the_bitmasks():
    g = torch.Generator().manual_seed(0)
    cls = torch.randn(6, NUM_CLASSES + 1, generator=g)
    masks = torch.randn(6, 9, 13, generator=g) * 3
    kwargs = dict(image_size=(9, 13), num_classes=NUM_CLASSES, topk=5)
    bitmask = instance_inference(cls, masks, **kwargs)
    rle = instance_inference(cls, masks, mask_format="rle", **kwargs)
    assert not rle.has("pred_masks") and len(rle.pred_masks_rle) == len(bitmask) == 5
    decoded = mask_util.decode(rle.pred_masks_rle)  # (H, W, R)
    assert np.array_equal(decoded.transpose(2, 0, 1), bitmask.pred_masks.numpy())
    assert all(r["size"] == [9, 13] for r in rle.pred_masks_rle)
    for field in ("scores", "pred_classes"):
        assert torch.equal(rle.get(field), bitmask.get(field))
    assert torch.equal(rle.pred_boxes.tensor, bitmask.pred_boxes.tensor)
    empty = instance_inference(cls, masks, mask_format="rle", **{**kwargs, "topk": 0})
    assert empty.pred_masks_rle == []


# --- config keys, defaults, JSON ------------------------------------------------------------


def _options_cfg():
    cfg = make_tiny_cfg()
    add_inference_options_config(cfg)
    return cfg


def test_default_keys_give_the_published_spec():
    """A config with the option keys at their defaults and one without them (built the
    published way, add_maskformer2_config only) make the same spec, whose options are the
    published behaviour."""
    published = InferenceSpec.from_config(make_tiny_cfg())
    assert InferenceSpec.from_config(_options_cfg()) == published
    assert published.mask_threshold == 0.5 and published.panoptic_fuse_classes == ("stuff",)
    assert not published.panoptic_segment_scores and published.instance_mask_format == "bitmask"
    assert published.sliding_window_size is None


def test_entry_points_configs_have_the_option_keys():
    from mask2former import model_zoo
    from mask2former.cli import load_config

    name = "ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml"
    for cfg in (load_config(name), model_zoo.get_config(name)):
        assert cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW.ENABLED is False
        assert InferenceSpec.from_config(cfg).mask_threshold == 0.5


def test_config_keys_reach_the_spec(tmp_path):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    config = tmp_path / "options.yaml"
    config.write_text(
        "MODEL:\n  MASK_FORMER:\n    TEST:\n      MASK_THRESHOLD: 0.6\n"
        "      PANOPTIC_FUSE_CLASSES: ['stuff', 1]\n      PANOPTIC_SEGMENT_SCORES: True\n"
    )
    add_inference_options_config(cfg)
    merge_config(cfg, str(config), ["MODEL.MASK_FORMER.TEST.INSTANCE_MASK_FORMAT", "rle"])
    options = InferenceSpec.from_config(cfg)
    assert options.mask_threshold == 0.6 and options.panoptic_fuse_classes == ("stuff", 1)
    assert options.panoptic_segment_scores and options.instance_mask_format == "rle"


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("MASK_THRESHOLD", 1.0, r"MASK_THRESHOLD must be a probability strictly between 0 and 1"),
        ("MASK_THRESHOLD", 0.0, r"MASK_THRESHOLD must be a probability"),
        ("PANOPTIC_FUSE_CLASSES", ["stuf"], r"PANOPTIC_FUSE_CLASSES: 'stuf' is neither"),
        ("PANOPTIC_FUSE_CLASSES", [5], r"PANOPTIC_FUSE_CLASSES: 5 is neither .* \[0, 5\)"),
        ("INSTANCE_MASK_FORMAT", "polygon", r"INSTANCE_MASK_FORMAT must be one of"),
    ],
)
def test_options_that_cannot_work_are_refused_naming_the_key(key, value, message):
    cfg = _options_cfg()
    cfg.MODEL.MASK_FORMER.TEST[key] = value
    with pytest.raises(InferenceOptionError, match=f"MODEL.MASK_FORMER.TEST.{message}"):
        InferenceSpec.from_config(cfg)


def test_model_outputs_follow_the_config_options():
    name = "test_inference_options_panoptic"
    MetadataCatalog.get(name).set(thing_dataset_id_to_contiguous_id={10: 0, 11: 1})
    try:
        cfg = _options_cfg()
        cfg.DATASETS.TRAIN = (name,)
        t = cfg.MODEL.MASK_FORMER.TEST
        t.PANOPTIC_ON = t.INSTANCE_ON = True
        t.PANOPTIC_SEGMENT_SCORES, t.INSTANCE_MASK_FORMAT = True, "rle"
        model = build_model(cfg).eval()
    finally:
        MetadataCatalog.remove(name)
    with torch.no_grad():
        model.sem_seg_head.predictor.class_embed.bias[-1] = -10.0  # few "no object" queries
        (result,) = model([{"image": torch.randint(0, 256, (3, 64, 48)).float()}])
    _, info = result["panoptic_seg"]
    assert info and all(0 < s["score"] <= 1 for s in info)
    instances = result["instances"]
    assert not instances.has("pred_masks") and len(instances.pred_masks_rle) == len(instances)


def test_exported_files_of_the_previous_version_load_with_the_published_options():
    old = InferenceSpec.from_json(PREVIOUS_JSON, "old.onnx")
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(InferenceSpec)
        if f.name not in json.loads(PREVIOUS_JSON)
    }
    assert defaults == {
        "mask_threshold": 0.5,
        "panoptic_fuse_classes": ("stuff",),
        "panoptic_segment_scores": False,
        "instance_mask_format": "bitmask",
        "sliding_window_size": None,
        "sliding_window_stride": None,
    }
    assert all(getattr(old, name) == value for name, value in defaults.items())
    # a file of this version keeps its options
    options = dataclasses.replace(
        old, mask_threshold=0.7, panoptic_fuse_classes=("thing", 2), instance_mask_format="rle"
    )
    assert InferenceSpec.from_json(options.to_json()) == options
    unknown = json.dumps({**json.loads(PREVIOUS_JSON), "mask_treshold": 0.7})
    with pytest.raises(ValueError, match="old.onnx: its inference spec must have the keys"):
        InferenceSpec.from_json(unknown, "old.onnx")
