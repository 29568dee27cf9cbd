"""Hand-built predictions with known answers for the post-processing tests: queries certain
of their class, masks certain along columns, and an inference spec of a small model."""

import torch

from mask2former.modeling.postprocessing import InferenceSpec

SURE = 10.0  # a logit that makes a class or a pixel certain
THING, OTHER_THING, STUFF = 0, 1, 2
NUM_CLASSES = 3  # no-object = 3


def class_logits(*classes):
    """(Q, K+1) logits, each query certain of its class (3 = no-object)."""
    logits = torch.zeros(len(classes), NUM_CLASSES + 1)
    for q, c in enumerate(classes):
        logits[q, c] = SURE
    return logits


def column_masks(*columns, size=4):
    """(Q, size, size) mask logits, query q certain inside its columns, certainly out elsewhere."""
    masks = torch.full((len(columns), size, size), -SURE)
    for q, cols in enumerate(columns):
        masks[q, :, list(cols)] = SURE
    return masks


def columns_of(panoptic_seg):
    """Segment id of each column (the hand-built cases are constant along columns)."""
    assert (panoptic_seg == panoptic_seg[0]).all()
    return panoptic_seg[0].tolist()


def spec(**changes) -> InferenceSpec:
    """A semantic-only spec of NUM_CLASSES classes, with ``changes``."""
    settings = dict(
        input_format="BGR",
        pixel_mean=(100.0, 110.0, 120.0),
        pixel_std=(50.0, 55.0, 60.0),
        min_size_test=64,
        max_size_test=96,
        size_divisibility=32,
        num_classes=NUM_CLASSES,
        semantic_on=True,
        panoptic_on=False,
        instance_on=False,
        sem_seg_postprocess_before_inference=False,
        object_mask_threshold=0.0,
        overlap_threshold=0.0,
        panoptic_within_mask=True,
        thing_ids=(THING, OTHER_THING),
        test_topk_per_image=5,
    )
    return InferenceSpec(**{**settings, **changes})


# what the previous version wrote into exported files (a tiny panoptic model exported at 64x96)
PREVIOUS_JSON = (
    '{"fixed_input_size": [64, 96], "input_format": "BGR", "instance_on": false, '
    '"max_size_test": 64, "min_size_test": 64, "num_classes": 5, "object_mask_threshold": 0.0, '
    '"overlap_threshold": 0.0, "panoptic_on": true, "panoptic_within_mask": true, '
    '"pixel_mean": [103.52999877929688, 116.27999877929688, 123.67500305175781], '
    '"pixel_std": [1.0, 1.0, 1.0], "sem_seg_postprocess_before_inference": true, '
    '"semantic_on": true, "size_divisibility": 32, "test_topk_per_image": 100, "thing_ids": [0, 1]}'
)
