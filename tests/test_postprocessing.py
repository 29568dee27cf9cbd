"""Semantic, panoptic and instance inference on hand-built predictions with known answers;
cropping and resizing against Detectron2's; the inference spec."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import Boxes

from helpers.postprocessing import (
    NUM_CLASSES,
    OTHER_THING,
    PREVIOUS_JSON,
    STUFF,
    SURE,
    THING,
    class_logits,
    column_masks,
    columns_of,
    spec,
)
from mask2former.layers import compiled_op_available, use_reference_ops
from mask2former.modeling.postprocessing import (
    InferenceSpec,
    crop_and_resize,
    instance_inference,
    panoptic_inference,
    postprocess,
    postprocess_image,
    semantic_inference,
)


def panoptic(
    mask_cls, mask_pred, object_mask_threshold=0.8, overlap_threshold=0.8, within_mask=True
):
    return panoptic_inference(
        mask_cls,
        mask_pred,
        num_classes=NUM_CLASSES,
        object_mask_threshold=object_mask_threshold,
        overlap_threshold=overlap_threshold,
        thing_ids=[THING, OTHER_THING],
        within_mask=within_mask,
    )


def test_semantic_inference_hand_computed():
    ln3 = math.log(3)
    # query 0: class probs (3/5, 1/5 | no-object 1/5), mask probs (0.5, 0.75)
    # query 1: class probs (1/3, 1/3 | 1/3), mask probs (0.25, 0.5)
    mask_cls = torch.tensor([[ln3, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask_pred = torch.tensor([[[0.0, ln3]], [[-ln3, 0.0]]])
    sem_seg = semantic_inference(mask_cls, mask_pred)
    expected = torch.tensor(
        [
            [[0.6 * 0.5 + 0.25 / 3, 0.6 * 0.75 + 0.5 / 3]],
            [[0.2 * 0.5 + 0.25 / 3, 0.2 * 0.75 + 0.5 / 3]],
        ]
    )
    assert sem_seg.shape == (2, 1, 2)
    torch.testing.assert_close(sem_seg, expected)


def test_semantic_inference_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(Q, K\+1\).*\(3, 4\)"):
        semantic_inference(torch.zeros(3, 4), torch.zeros(2, 5, 5))


def test_panoptic_disjoint_things_drop_no_object_and_low_confidence():
    mask_cls = class_logits(THING, OTHER_THING, NUM_CLASSES, THING)
    mask_cls[3] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # class 0 with probability e/(e+3) = 0.48
    mask_pred = column_masks([0], [3], [0, 1, 2, 3], [1, 2])
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred)
    assert panoptic_seg.dtype == torch.int32 and panoptic_seg.shape == (4, 4)
    # the no-object query covers everything but is dropped; columns 1-2 stay void
    assert columns_of(panoptic_seg) == [1, 0, 0, 2]
    assert segments_info == [
        {"id": 1, "isthing": True, "category_id": THING},
        {"id": 2, "isthing": True, "category_id": OTHER_THING},
    ]
    # a lower object threshold keeps the uncertain query
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, object_mask_threshold=0.2)
    assert columns_of(panoptic_seg) == [1, 3, 3, 2]
    assert segments_info[2] == {"id": 3, "isthing": True, "category_id": THING}


def test_panoptic_overlap_filter_removes_mostly_occluded_query():
    # query 1 (less confident) wants columns 1-3 but query 0 owns columns 1-2:
    # query 1 keeps 1/3 of its mask
    mask_cls = class_logits(THING, OTHER_THING)
    mask_cls[1, OTHER_THING] = 3.0  # probability about 0.87 < query 0's
    mask_pred = column_masks([0, 1, 2], [1, 2, 3])
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, overlap_threshold=0.8)
    assert columns_of(panoptic_seg) == [1, 1, 1, 0]
    assert [s["category_id"] for s in segments_info] == [THING]

    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, overlap_threshold=0.3)
    assert columns_of(panoptic_seg) == [1, 1, 1, 2]
    assert [s["category_id"] for s in segments_info] == [THING, OTHER_THING]


def test_panoptic_merges_stuff_of_one_class_but_not_things():
    mask_pred = column_masks([0], [1, 2], [3])
    stuff = class_logits(STUFF, THING, STUFF)
    panoptic_seg, segments_info = panoptic(stuff, mask_pred)
    assert columns_of(panoptic_seg) == [1, 2, 2, 1]
    assert segments_info == [
        {"id": 1, "isthing": False, "category_id": STUFF},
        {"id": 2, "isthing": True, "category_id": THING},
    ]
    things = class_logits(THING, STUFF, THING)
    panoptic_seg, segments_info = panoptic(things, mask_pred)
    assert columns_of(panoptic_seg) == [1, 2, 2, 3]
    assert [s["category_id"] for s in segments_info] == [THING, STUFF, THING]


def test_panoptic_pixels_below_half_probability_stay_void():
    mask_cls = class_logits(THING)
    mask_pred = column_masks([0, 1])
    mask_pred[0, :, 1] = -0.1  # the query still wins the argmax there, with probability < 0.5
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, overlap_threshold=0.0)
    assert columns_of(panoptic_seg) == [1, 0, 0, 0]
    assert len(segments_info) == 1


def test_panoptic_maskformer_rule_keeps_every_pixel_won():
    """The MaskFormer release's rule on the previous case: the only query wins every pixel
    (4 columns won, 1 column of its own mask: ratio 4 passes the overlap threshold), and every
    pixel it wins is its segment's, whatever its mask probability there."""
    mask_cls = class_logits(THING)
    mask_pred = column_masks([0, 1])
    mask_pred[0, :, 1] = -0.1
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, within_mask=False)
    assert columns_of(panoptic_seg) == [1, 1, 1, 1]
    assert segments_info == [{"id": 1, "isthing": True, "category_id": THING}]


def test_panoptic_rules_of_the_two_releases_differ_where_the_winner_is_unsure():
    """Query 0 (a thing) wins columns 0-2 with mask probabilities .45, .45, .27 while its own
    mask (probability >= .5) is column 3, which the stuff query 1 wins (probability ~1 against
    .62). Query 0 wins 12 pixels for 4 of its own mask, so it passes the overlap threshold.
    Mask2Former's rule: its segment, won pixels inside its own mask, is empty, so it is dropped
    and columns 0-2 stay void. MaskFormer's rule: its segment is the 12 pixels it wins."""
    mask_cls = class_logits(THING, STUFF)
    mask_pred = column_masks([], [3])
    mask_pred[0] = torch.tensor([-0.2, -0.2, -1.0, 0.5])  # the same in every row
    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, within_mask=True)
    assert columns_of(panoptic_seg) == [0, 0, 0, 1]
    assert segments_info == [{"id": 1, "isthing": False, "category_id": STUFF}]

    panoptic_seg, segments_info = panoptic(mask_cls, mask_pred, within_mask=False)
    assert columns_of(panoptic_seg) == [1, 1, 1, 2]
    assert segments_info == [
        {"id": 1, "isthing": True, "category_id": THING},
        {"id": 2, "isthing": False, "category_id": STUFF},
    ]
    # the overlap test still divides by the own mask at probability >= .5: query 0's 12 / 4 = 3
    # passes a threshold of 1.5, query 1's 4 / 4 = 1 does not, and its column stays void
    panoptic_seg, segments_info = panoptic(
        mask_cls, mask_pred, overlap_threshold=1.5, within_mask=False
    )
    assert columns_of(panoptic_seg) == [1, 1, 1, 0]
    assert segments_info == [{"id": 1, "isthing": True, "category_id": THING}]


def test_panoptic_without_confident_queries_is_all_void():
    panoptic_seg, segments_info = panoptic(
        class_logits(NUM_CLASSES, NUM_CLASSES), column_masks([0], [1])
    )
    assert (panoptic_seg == 0).all() and segments_info == []


def test_panoptic_rejects_wrong_number_of_classes():
    with pytest.raises(ValueError, match="num_classes \\+ 1 = 4"):
        panoptic(torch.zeros(2, 3), column_masks([0], [1]))


def _instance_case():
    """3 queries, 2 classes, 4x4 masks. Class probabilities of (query, class):
    (0,0) .909  (1,1) .787  (2,0) .507  (2,1) .307  (1,0) .106  (0,1) .045."""
    mask_cls = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.5, 0.0]])
    prob = mask_cls.softmax(-1)
    mask_pred = torch.full((3, 4, 4), -5.0)
    mask_pred[0, 0:2, 0:2] = math.log(3)  # probability .75; box (0, 0, 2, 2)
    mask_pred[1, 2:4, 1:4] = math.log(9)  # probability .9; box (1, 2, 4, 4)
    mask_pred[1, 0, :] = 0.0  # probability exactly .5: outside the binary mask
    mask_pred[2, 0, 0] = math.log(3)  # .75
    mask_pred[2, 3, 3] = math.log(4)  # .8; box (0, 0, 4, 4), mean .775
    mask_score = torch.tensor([0.75, 0.9, 0.775])
    return mask_cls, mask_pred, prob, mask_score


def test_instance_inference_topk_order_scores_and_boxes():
    mask_cls, mask_pred, prob, mask_score = _instance_case()
    result = instance_inference(mask_cls, mask_pred, image_size=(4, 4), num_classes=2, topk=4)
    pairs = [(0, 0), (1, 1), (2, 0), (2, 1)]
    assert result.image_size == (4, 4) and len(result) == 4
    assert result.pred_classes.tolist() == [c for _, c in pairs]
    assert result.pred_classes.dtype == torch.int64
    expected = torch.stack([prob[q, c] * mask_score[q] for q, c in pairs])
    torch.testing.assert_close(result.scores, expected)
    assert result.pred_masks.dtype == torch.bool
    torch.testing.assert_close(result.pred_masks, torch.stack([mask_pred[q] > 0 for q, _ in pairs]))
    assert isinstance(result.pred_boxes, Boxes)
    torch.testing.assert_close(
        result.pred_boxes.tensor,
        torch.tensor([[0, 0, 2, 2], [1, 2, 4, 4], [0, 0, 4, 4], [0, 0, 4, 4]], dtype=torch.float32),
    )


def test_instance_inference_keeps_only_things_and_clamps_topk():
    mask_cls, mask_pred, prob, mask_score = _instance_case()
    result = instance_inference(
        mask_cls, mask_pred, image_size=(4, 4), num_classes=2, topk=4, thing_ids=[0]
    )
    assert result.pred_classes.tolist() == [0, 0]
    torch.testing.assert_close(result.scores, torch.stack([prob[0, 0] * 0.75, prob[2, 0] * 0.775]))

    result = instance_inference(mask_cls, mask_pred, image_size=(4, 4), num_classes=2, topk=100)
    assert len(result) == 6
    assert result.pred_classes.tolist() == [0, 1, 0, 1, 0, 1]


def test_instance_inference_empty_mask_scores_zero_with_zero_box():
    mask_cls = torch.tensor([[SURE, 0.0, 0.0]])
    result = instance_inference(
        mask_cls, torch.full((1, 3, 5), -1.0), image_size=(3, 5), num_classes=2, topk=1
    )
    assert result.scores.tolist() == [0.0]
    assert result.pred_boxes.tensor.tolist() == [[0.0, 0.0, 0.0, 0.0]]


def test_instance_inference_rejects_image_size_other_than_mask_size():
    mask_cls, mask_pred, _, _ = _instance_case()
    with pytest.raises(ValueError, match=r"image_size \(8, 8\) differs"):
        instance_inference(mask_cls, mask_pred, image_size=(8, 8), num_classes=2, topk=4)


def reference_panoptic(
    mask_cls, mask_pred, object_mask_threshold, overlap_threshold, thing_ids, within_mask
):
    """The published per-query loops (Mask2Former's with ``within_mask``, MaskFormer's
    without), painting one segment at a time."""
    scores, labels = mask_cls.softmax(-1).max(-1)
    keep = (labels != NUM_CLASSES) & (scores > object_mask_threshold)
    scores, labels, prob = scores[keep], labels[keep], mask_pred[keep].sigmoid()
    seg = torch.zeros(mask_pred.shape[-2:], dtype=torch.int32)
    info, stuff = [], {}
    if len(labels) == 0:
        return seg, info
    winner = (scores[:, None, None] * prob).argmax(0)
    for k in range(len(labels)):
        label = int(labels[k])
        won, own = winner == k, prob[k] >= 0.5
        mask = won & own if within_mask else won
        if won.sum() == 0 or own.sum() == 0 or mask.sum() == 0:
            continue
        if won.sum() / own.sum() < overlap_threshold:
            continue
        if label not in thing_ids and label in stuff:
            seg[mask] = stuff[label]
            continue
        info.append({"id": len(info) + 1, "isthing": label in thing_ids, "category_id": label})
        seg[mask] = len(info)
        if label not in thing_ids:
            stuff[label] = len(info)
    return seg, info


def _random_predictions(seed):
    """8 overlapping blob-shaped masks on 9x11 pixels, confident and unsure classes."""
    g = torch.Generator().manual_seed(seed)
    mask_cls = torch.randn(8, NUM_CLASSES + 1, generator=g) * 6
    coarse = torch.randn(8, 1, 3, 3, generator=g) * 4
    mask_pred = F.interpolate(coarse, size=(9, 11), mode="bilinear", align_corners=False)[:, 0]
    return mask_cls, mask_pred


@pytest.mark.parametrize("within_mask", [True, False], ids=["mask2former", "maskformer"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("thresholds", [(0.0, 0.0), (0.5, 0.3), (0.8, 0.6)])
def test_panoptic_matches_per_query_reference_on_random_predictions(seed, thresholds, within_mask):
    """Segments of several sizes, some removed by the object or overlap threshold, stuff
    queries merged."""
    mask_cls, mask_pred = _random_predictions(seed)
    expected = reference_panoptic(
        mask_cls, mask_pred, *thresholds, {THING, OTHER_THING}, within_mask
    )
    result = panoptic(mask_cls, mask_pred, *thresholds, within_mask=within_mask)
    assert result[1] == expected[1]
    assert torch.equal(result[0], expected[0])


def test_random_predictions_tell_the_two_rules_apart():
    """The random cases above are not all ones where both rules agree."""
    differing = 0
    for seed in range(4):
        mask_cls, mask_pred = _random_predictions(seed)
        maps = [panoptic(mask_cls, mask_pred, 0.0, 0.0, within_mask=w)[0] for w in (True, False)]
        differing += int((maps[0] != maps[1]).sum())
    assert differing > 0


@pytest.mark.parametrize("output_size", [(20, 27), (41, 50), (13, 9)])
def test_crop_and_resize_is_detectron2s_sem_seg_postprocess(output_size):
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 3, 32, 32, generator=g)
    resized = crop_and_resize(maps, (20, 27), *output_size)  # a batch of maps
    for single, result in zip(maps, resized):
        expected = sem_seg_postprocess(single, (20, 27), *output_size)
        assert torch.equal(crop_and_resize(single, (20, 27), *output_size), expected)
        assert torch.equal(result, expected)


def test_same_size_crop_is_a_view_without_resizing():
    maps = torch.randn(3, 32, 32)
    cropped = crop_and_resize(maps, (20, 27), 20, 27)
    assert cropped.data_ptr() == maps.data_ptr()  # no bilinear "resize" to the same size
    assert torch.equal(cropped, sem_seg_postprocess(maps, (20, 27), 20, 27))


@pytest.mark.parametrize("before", [False, True], ids=["resize-after", "resize-before"])
@pytest.mark.parametrize("output_size", [(20, 27), (41, 50)])
def test_semantic_results_follow_the_published_order(before, output_size):
    """The published inference resizes the mask logits and then infers (``before``), or infers
    on the padded masks and then crops and resizes; inferring on the crop gives the same
    per-pixel scores."""
    g = torch.Generator().manual_seed(1)
    mask_cls = torch.randn(6, NUM_CLASSES + 1, generator=g)
    mask_pred = torch.randn(6, 32, 32, generator=g) * 3
    result = postprocess_image(
        mask_cls,
        mask_pred,
        spec(sem_seg_postprocess_before_inference=before),
        (20, 27),
        output_size,
    )
    if before:
        expected = semantic_inference(
            mask_cls, sem_seg_postprocess(mask_pred, (20, 27), *output_size)
        )
    else:
        expected = sem_seg_postprocess(
            semantic_inference(mask_cls, mask_pred), (20, 27), *output_size
        )
    assert set(result) == {"sem_seg"}
    torch.testing.assert_close(result["sem_seg"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("semantic_kernel", ["compiled", "reference"])
def test_batch_postprocessing_upsamples_crops_and_resizes_each_image(semantic_kernel):
    """Network outputs as numpy arrays (an ONNX runtime's): masks at 1/4 of the padded input,
    two images of other sizes inside the padding, results at their own output sizes. Semantic
    scores by the compiled kernel equal the full-resolution steps up to float rounding, and
    exactly with the reference kernels."""
    if semantic_kernel == "compiled" and not compiled_op_available("cpu"):
        pytest.skip("needs the compiled mask2former._C operator")
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 6, NUM_CLASSES + 1, generator=g)
    masks = torch.randn(2, 6, 8, 8, generator=g)
    all_tasks = spec(panoptic_on=True, instance_on=True)
    assert all_tasks.sem_seg_postprocess_before_inference  # full-resolution masks needed
    image_sizes, output_sizes = [(32, 20), (17, 32)], [(64, 40), (17, 32)]
    with use_reference_ops(semantic_kernel == "reference"):
        results = postprocess(
            logits.numpy(), masks.numpy(), all_tasks, (32, 32), image_sizes, output_sizes
        )
    exact = semantic_kernel == "reference"
    for k, (result, image_size, output_size) in enumerate(zip(results, image_sizes, output_sizes)):
        upsampled = F.interpolate(
            masks[k : k + 1], size=(32, 32), mode="bilinear", align_corners=False
        )[0]
        full = sem_seg_postprocess(upsampled, image_size, *output_size)
        torch.testing.assert_close(
            result["sem_seg"],
            semantic_inference(logits[k], full),
            rtol=0 if exact else 1e-5,
            atol=0 if exact else 1e-6,
        )
        seg, info = result["panoptic_seg"]
        expected_seg, expected_info = panoptic(logits[k], full, 0.0, 0.0)
        assert torch.equal(seg, expected_seg) and info == expected_info
        instances = result["instances"]
        expected = instance_inference(
            logits[k],
            full,
            image_size=output_size,
            num_classes=NUM_CLASSES,
            topk=5,
            thing_ids=(THING, OTHER_THING),
        )
        assert instances.image_size == output_size and 0 < len(instances) <= 5
        for field in ("pred_masks", "scores", "pred_classes"):
            assert torch.equal(instances.get(field), expected.get(field))


def test_panoptic_results_need_the_thing_classes():
    with pytest.raises(ValueError, match="needs the thing classes"):
        postprocess_image(
            class_logits(THING),
            column_masks([0]),
            spec(panoptic_on=True, thing_ids=None),
            (4, 4),
            (4, 4),
        )


def test_spec_needs_a_result_and_full_resolution_masks_for_panoptic_and_instances():
    with pytest.raises(
        ValueError, match="enable at least one of MODEL.MASK_FORMER.TEST.SEMANTIC_ON"
    ):
        spec(semantic_on=False)
    assert not spec().sem_seg_postprocess_before_inference
    assert spec(instance_on=True).sem_seg_postprocess_before_inference
    assert spec(semantic_on=False, panoptic_on=True).sem_seg_postprocess_before_inference
    # sequences (from a config or JSON) are kept as tuples
    from_lists = spec(pixel_mean=[100.0, 110.0, 120.0], thing_ids=[0, 1], fixed_input_size=[64, 96])
    assert from_lists == spec(fixed_input_size=(64, 96)) and hash(from_lists)


def test_spec_json_round_trip_and_files_of_the_previous_version():
    loaded = InferenceSpec.from_json(PREVIOUS_JSON, "old.onnx")
    assert loaded.fixed_input_size == (64, 96) and loaded.thing_ids == (0, 1)
    assert np.float32(loaded.pixel_mean[2]) == np.float32(123.675)
    assert InferenceSpec.from_json(loaded.to_json()) == loaded
    with pytest.raises(
        ValueError,
        match=r"old.onnx: its inference spec must have the keys .*export the model again",
    ):
        InferenceSpec.from_json(
            PREVIOUS_JSON.replace('"panoptic_within_mask": true, ', ""), "old.onnx"
        )
    with pytest.raises(ValueError, match="old.onnx: its inference spec is not valid JSON"):
        InferenceSpec.from_json("{", "old.onnx")
