"""The compiled semantic-scores operator (semantic inference fused with the resizing of the mask
logits) against the full-resolution steps it replaces: F.interpolate to the padded input,
Detectron2's sem_seg_postprocess (crop and resize), sigmoid and the class-probability product;
tiles, sizes, dtypes, bad arguments, the fake kernel and the post-processing wrapper."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling.postprocessing import sem_seg_postprocess

from helpers.ops import needs_cpu_op, needs_cuda_op
from helpers.postprocessing import spec
from helpers.scripts import size_sweep_rows
from mask2former.layers import use_reference_ops
from mask2former.modeling.postprocessing import (
    semantic_inference,
    semantic_kernel_runs,
    semantic_scores,
)

pytestmark = needs_cpu_op


def full_resolution(mask_logits, class_prob, padded_size, image_size, output_size):
    """The steps the operator fuses, one after the other."""
    upsampled = F.interpolate(
        mask_logits[None], size=padded_size, mode="bilinear", align_corners=False
    )[0]
    masks = sem_seg_postprocess(upsampled, image_size, *output_size).sigmoid()
    return torch.einsum("qc,qhw->chw", class_prob, masks)


def random_inputs(queries, classes, low_size, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask_logits = 4 * torch.randn(queries, *low_size, generator=g, dtype=dtype)
    class_prob = torch.rand(queries, classes, generator=g, dtype=dtype)
    return mask_logits, class_prob


# (low-resolution logits, padded input, image inside the padding, output): same size, a crop,
# upscaling, downscaling, odd sizes, one pixel wide
SIZES = [
    ((8, 8), (32, 32), (32, 32), (32, 32)),
    ((8, 12), (32, 48), (29, 41), (29, 41)),
    ((8, 12), (32, 48), (29, 41), (57, 90)),
    ((8, 12), (32, 48), (29, 41), (13, 7)),
    ((5, 3), (17, 11), (17, 9), (23, 1)),
]


@pytest.mark.parametrize("low, padded, image, output", SIZES)
def test_equals_the_full_resolution_steps(low, padded, image, output):
    mask_logits, class_prob = random_inputs(6, 5, low, dtype=torch.float64)
    scores = torch.ops.mask2former.semantic_scores(mask_logits, class_prob, padded, image, output)
    expected = full_resolution(mask_logits, class_prob, padded, image, output)
    assert scores.shape == (5, *output) and scores.dtype == torch.float64
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)


def test_float32_equals_up_to_rounding_across_tiles_and_a_partial_last_tile():
    # 64 queries x 256 columns: the CPU kernel's 2^21-value tiles hold 128 rows; 300 rows make
    # three tiles, the last one partial
    mask_logits, class_prob = random_inputs(64, 9, (76, 64), seed=1)
    sizes = ((304, 256), (300, 256), (300, 256))
    scores = torch.ops.mask2former.semantic_scores(mask_logits, class_prob, *sizes)
    torch.testing.assert_close(
        scores, full_resolution(mask_logits, class_prob, *sizes), rtol=1e-5, atol=1e-6
    )


def test_reads_non_contiguous_inputs():
    mask_logits, class_prob = random_inputs(4, 6, (9, 8), dtype=torch.float64)
    logits_t, prob_t = mask_logits.transpose(1, 2), class_prob.t().contiguous().t()
    assert not logits_t.is_contiguous() and not prob_t.is_contiguous()
    sizes = ((32, 36), (30, 36), (40, 40))
    torch.testing.assert_close(
        torch.ops.mask2former.semantic_scores(logits_t, prob_t, *sizes),
        full_resolution(logits_t, prob_t, *sizes),
        rtol=1e-12,
        atol=1e-12,
    )


def test_no_queries_give_zero_scores_and_no_classes_an_empty_map():
    sizes = ((8, 8), (8, 8), (5, 6))
    scores = torch.ops.mask2former.semantic_scores(torch.zeros(0, 2, 2), torch.zeros(0, 3), *sizes)
    assert scores.shape == (3, 5, 6) and not scores.any()
    empty = torch.ops.mask2former.semantic_scores(torch.zeros(2, 2, 2), torch.zeros(2, 0), *sizes)
    assert empty.shape == (0, 5, 6)


@pytest.mark.parametrize(
    "mask_logits, class_prob, sizes, error, message",
    [
        (torch.zeros(2, 4), torch.zeros(2, 3), ((8, 8),) * 3, ValueError, "mask_logits \\(Q, h, w\\)"),
        (torch.zeros(2, 4, 4), torch.zeros(3, 3), ((8, 8),) * 3, ValueError, "class_prob \\(Q, K\\)"),
        (torch.zeros(2, 4, 4), torch.zeros(2, 3), ((8, 8), (9, 8), (8, 8)), ValueError, "fit in padded_size"),
        (torch.zeros(2, 4, 4), torch.zeros(2, 3), ((8, 8), (8, 8), (0, 8)), ValueError, "output_size"),
        (torch.zeros(2, 4, 4), torch.zeros(2, 3, dtype=torch.float64), ((8, 8),) * 3, TypeError, "float32 or float64"),
        (torch.zeros(2, 4, 4, dtype=torch.half), torch.zeros(2, 3, dtype=torch.half), ((8, 8),) * 3, TypeError, "float32 or float64"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(mask_logits, class_prob, sizes, error, message):
    with pytest.raises(error, match=message):
        torch.ops.mask2former.semantic_scores(mask_logits, class_prob, *sizes)


def test_operator_registration_passes_opcheck():
    """Schema, fake kernel (output shape without data) and dispatcher registration."""
    mask_logits, class_prob = random_inputs(3, 4, (4, 5))
    torch.library.opcheck(
        torch.ops.mask2former.semantic_scores.default,
        (mask_logits, class_prob, [16, 20], [15, 18], [30, 9]),
        test_utils=("test_schema", "test_faketensor"),
    )


@pytest.mark.parametrize("resize_first", [True, False], ids=["resize-before", "resize-after"])
def test_postprocessing_wrapper_follows_the_resize_order(resize_first):
    """``semantic_scores`` gives what post-processing computes from the upsampled logits, for
    both orders of MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE."""
    the_spec = spec(sem_seg_postprocess_before_inference=resize_first)
    g = torch.Generator().manual_seed(3)
    mask_cls = torch.randn(6, the_spec.num_classes + 1, generator=g)
    mask_logits = 3 * torch.randn(6, 8, 12, generator=g)
    padded, image, output = (32, 48), (30, 41), (45, 61)
    mask_pred = F.interpolate(mask_logits[None], size=padded, mode="bilinear", align_corners=False)[
        0
    ]
    if resize_first:
        expected = semantic_inference(mask_cls, sem_seg_postprocess(mask_pred, image, *output))
    else:
        cropped = mask_pred[:, : image[0], : image[1]]
        expected = sem_seg_postprocess(semantic_inference(mask_cls, cropped), image, *output)
    scores = semantic_scores(mask_cls, mask_logits, the_spec, padded, image, output)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)


def test_half_precision_logits_are_scored_in_float32_and_returned_in_their_dtype():
    the_spec = spec(sem_seg_postprocess_before_inference=True)
    g = torch.Generator().manual_seed(4)
    mask_cls = torch.randn(5, the_spec.num_classes + 1, generator=g)
    mask_logits = torch.randn(5, 6, 6, generator=g).bfloat16()
    sizes = ((24, 24), (24, 20), (30, 25))
    scores = semantic_scores(mask_cls, mask_logits, the_spec, *sizes)
    expected = semantic_scores(mask_cls, mask_logits.float(), the_spec, *sizes)
    assert scores.dtype == torch.bfloat16
    torch.testing.assert_close(scores, expected.bfloat16(), rtol=0, atol=0)


def test_the_kernel_switch_selects_the_full_resolution_steps():
    logits = torch.zeros(1, 1, 1)
    assert semantic_kernel_runs(logits)
    with use_reference_ops():
        assert not semantic_kernel_runs(logits)


@needs_cuda_op
@pytest.mark.parametrize("low, padded, image, output", SIZES)
def test_cuda_equals_cpu(low, padded, image, output):
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        mask_logits, class_prob = random_inputs(6, 5, low, dtype=dtype)
        cpu = torch.ops.mask2former.semantic_scores(mask_logits, class_prob, padded, image, output)
        cuda = torch.ops.mask2former.semantic_scores(
            mask_logits.cuda(), class_prob.cuda(), padded, image, output
        )
        torch.testing.assert_close(cuda.cpu(), cpu, rtol=tolerance, atol=tolerance)


def test_benchmark_prints_a_row_per_size(capsys):
    options = ["--sizes", "64", "--output-scale", "1.5", "--repeats", "1"]
    out, rows = size_sweep_rows(
        capsys, "tools/benchmark_semantic_scores.py", options, "| 64x64 -> 96x96 |"
    )
    assert len(rows) == 1 and rows[0].count("MiB") == 2 and rows[0].endswith("x |"), out
