"""The point sampling of the Mask2Former matcher and losses against the published formulation
(Detectron2's PointRend functions, as ``reference_model`` computes them): the same random
numbers give the same points, losses and gradients; and tools/benchmark_criterion.py runs."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.projects.point_rend.point_features import get_uncertain_point_coords_with_randomness

from helpers.scripts import load_script
from mask2former.modeling.criterion import HungarianMatcher, SetCriterion
from mask2former.modeling.criterion.point_sampling import importance_sampled_grid
from mask2former.utils.reference_model import reference_model


def _sorted_points(grid):
    """(M, P, 2) -> the same points of each mask ordered by x: the point sets."""
    key = grid[..., 0]  # random x: distinct
    return grid.gather(1, key.argsort(dim=1)[..., None].expand(-1, -1, 2))


@pytest.mark.parametrize("oversample,importance", [(3.0, 0.75), (2.0, 1.0), (1.0, 0.0)])
def test_importance_sampling_picks_the_points_of_detectron2(oversample, importance):
    logits = 3 * torch.randn(5, 1, 9, 7, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    coords = get_uncertain_point_coords_with_randomness(
        logits, lambda x: -x.abs(), 40, oversample, importance
    )
    after = torch.rand(4)
    torch.manual_seed(1)
    grid = importance_sampled_grid(logits, 40, oversample, importance)
    assert torch.equal(torch.rand(4), after)  # the same random numbers drawn
    num_uncertain = int(importance * 40)
    expected = 2.0 * coords - 1.0
    # the uncertain points as a set (top-k unsorted), the random ones in their order
    torch.testing.assert_close(
        _sorted_points(grid[:, :num_uncertain]),
        _sorted_points(expected[:, :num_uncertain]),
        rtol=0,
        atol=0,
    )
    assert torch.equal(grid[:, num_uncertain:], expected[:, num_uncertain:])


def _case(generator, video=False):
    """Outputs of 3 layers (leaf tensors with gradients) and targets of 3 images of different
    sizes, one without segments."""
    frames = (2,) if video else ()

    def layer():
        return {
            "pred_logits": torch.randn(3, 8, 5, generator=generator).requires_grad_(),
            "pred_masks": (
                3 * torch.randn(3, 8, *frames, 12, 12, generator=generator)
            ).requires_grad_(),
        }

    outputs = layer()
    outputs["aux_outputs"] = [layer(), layer()]
    targets = []
    for n, (h, w) in zip((3, 0, 2), ((48, 40), (44, 48), (48, 48))):
        noise = torch.randn(n, *frames, 6, 6, generator=generator)
        masks = F.interpolate(noise.view(-1, 1, 6, 6), size=(h, w), mode="bilinear") > 0.2
        labels = torch.randint(0, 4, (n,), generator=generator)
        targets.append({"labels": labels, "masks": masks.view(n, *frames, h, w)})
    return outputs, targets


def _losses_and_gradients(criterion, outputs, targets):
    leaves = [
        out[k] for out in [outputs] + outputs["aux_outputs"] for k in ("pred_logits", "pred_masks")
    ]
    for leaf in leaves:
        leaf.grad = None
    torch.manual_seed(3)
    losses = criterion(outputs, targets)
    sum(losses.values()).backward()
    grads = [leaf.grad.clone() for leaf in leaves]
    return {k: v.detach() for k, v in losses.items()}, grads, torch.rand(4)


@pytest.mark.parametrize("video", [False, True], ids=["images", "clips"])
def test_criterion_equals_the_published_point_sampling(video):
    """Whole criterion (matching, point-sampled losses) against its reference with the same
    seed: equal losses and gradients (up to the order of the uncertain points in sums), and
    the same random numbers drawn."""
    outputs, targets = _case(torch.Generator().manual_seed(4), video)
    criterion = SetCriterion(
        4, HungarianMatcher(2.0, 5.0, 5.0, num_points=60), {}, 0.1, num_points=60
    )
    losses, grads, after = _losses_and_gradients(criterion, outputs, targets)
    ref_losses, ref_grads, ref_after = _losses_and_gradients(
        reference_model(criterion), outputs, targets
    )
    assert torch.equal(after, ref_after)
    assert losses.keys() == ref_losses.keys()
    for name in losses:
        torch.testing.assert_close(losses[name], ref_losses[name], rtol=1e-5, atol=0, msg=name)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-9)


def test_invalid_sampling_ratios_are_refused():
    with pytest.raises(ValueError, match="oversample_ratio >= 1"):
        SetCriterion(
            4, HungarianMatcher(1.0, 1.0, 1.0), {}, 0.1, num_points=8, oversample_ratio=0.5
        )
    with pytest.raises(ValueError, match=r"importance_sample_ratio in \[0, 1\]"):
        SetCriterion(
            4, HungarianMatcher(1.0, 1.0, 1.0), {}, 0.1, num_points=8, importance_sample_ratio=2
        )


def test_benchmark_criterion_prints_every_part(capsys):
    tool = load_script("tools/benchmark_criterion.py")
    threads = torch.get_num_threads()
    try:
        status = tool.main(["--config-file", "ade20k/R50.yaml", "--sizes", "64", "--batch", "2",
                            "--targets", "2", "--repeats", "1", "--warmup", "0", "--reference",
                            "--threads", "1", "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "32",
                            "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "4",
                            "MODEL.MASK_FORMER.DEC_LAYERS", "2"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)  # the tool sets it for the whole process
    assert status == 0
    out = capsys.readouterr().out
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| 64 ")]
    assert [row[1].strip() for row in rows] == ["matcher", "mask losses", "criterion"], out
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0 and row[4].strip().endswith("x"), out
