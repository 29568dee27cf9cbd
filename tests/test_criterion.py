"""SetCriterion and the mask losses against hand-computed values and independent references."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss as torchvision_focal

from helpers.sampling import fake_rand_at_pixel_centres
from mask2former.modeling.criterion import SetCriterion
from mask2former.modeling.criterion.losses import (
    dice_loss,
    pairwise_dice_cost,
    pairwise_sigmoid_ce_cost,
    pairwise_sigmoid_focal_cost,
    sigmoid_ce_loss,
    sigmoid_focal_loss,
)
from mask2former.modeling.criterion.matcher import HungarianMatcher

LN2, LN3, LN43 = math.log(2), math.log(3), math.log(4 / 3)

# 2x2 example: probabilities 0.5, 0.5, 0.75, 0.25 against target 1, 0, 1, 0
EXAMPLE_LOGITS = torch.tensor([[0.0, 0.0, LN3, -LN3]])
EXAMPLE_TARGET = torch.tensor([[1.0, 0.0, 1.0, 0.0]])


class FixedMatcher(nn.Module):
    """Returns preset indices, to test the losses independently of the matching."""

    def __init__(self, indices):
        super().__init__()
        self.indices = indices
        self.calls = 0

    def forward(self, outputs, targets):
        self.calls += 1
        return self.indices


def test_dice_loss_hand_computed():
    # 1 - (2 * (0.5 + 0.75) + 1) / (2.0 + 2 + 1) = 1 - 3.5 / 5
    assert dice_loss(EXAMPLE_LOGITS, EXAMPLE_TARGET, 1.0).item() == pytest.approx(0.3)
    two = torch.cat([EXAMPLE_LOGITS, EXAMPLE_LOGITS])
    assert dice_loss(two, torch.cat([EXAMPLE_TARGET] * 2), 4.0).item() == pytest.approx(0.15)


def test_sigmoid_ce_loss_hand_computed():
    # -(log 0.5 + log 0.5 + log 0.75 + log 0.75) / 4
    expected = (2 * LN2 + 2 * LN43) / 4
    assert sigmoid_ce_loss(EXAMPLE_LOGITS, EXAMPLE_TARGET, 1.0).item() == pytest.approx(expected)
    assert sigmoid_ce_loss(EXAMPLE_LOGITS, EXAMPLE_TARGET, 2.0).item() == pytest.approx(
        expected / 2
    )


def test_sigmoid_focal_loss_hand_computed():
    # alpha (1-p)^2 (-log p) for positives, (1-alpha) p^2 (-log(1-p)) for negatives
    expected = (
        0.25 * 0.25 * LN2 + 0.75 * 0.25 * LN2 + 0.25 * 0.0625 * LN43 + 0.75 * 0.0625 * LN43
    ) / 4
    assert sigmoid_focal_loss(EXAMPLE_LOGITS, EXAMPLE_TARGET, 1.0).item() == pytest.approx(expected)


def test_losses_agree_with_torch_references_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 30, generator=g) * 3
    targets = (torch.rand(5, 30, generator=g) > 0.5).float()
    soft = torch.rand(5, 30, generator=g)
    focal = (
        torchvision_focal(logits, targets, alpha=0.25, gamma=2, reduction="none").mean(1).sum() / 2
    )
    assert sigmoid_focal_loss(logits, targets, 2.0).item() == pytest.approx(focal.item(), rel=1e-5)
    bce = F.binary_cross_entropy_with_logits(logits, soft, reduction="none").mean(1).sum() / 3
    assert sigmoid_ce_loss(logits, soft, 3.0).item() == pytest.approx(bce.item(), rel=1e-5)


def test_pairwise_costs_equal_matched_losses_of_every_pair():
    """Binary targets for all three; soft (point-sampled) targets for BCE and dice too."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 12, generator=g) * 4
    binary = (torch.rand(3, 12, generator=g) > 0.5).float()
    soft = torch.rand(3, 12, generator=g)
    for pairwise, matched, targets in [
        (pairwise_sigmoid_ce_cost, sigmoid_ce_loss, binary),
        (pairwise_sigmoid_ce_cost, sigmoid_ce_loss, soft),
        (pairwise_sigmoid_focal_cost, sigmoid_focal_loss, binary),
        (pairwise_dice_cost, dice_loss, binary),
        (pairwise_dice_cost, dice_loss, soft),
    ]:
        cost = pairwise(logits, targets)
        assert cost.shape == (4, 3)
        for i in range(4):
            for j in range(3):
                expected = matched(logits[i : i + 1], targets[j : j + 1], 1.0)
                assert cost[i, j].item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


def test_loss_ce_weights_no_object_by_eos_coef():
    # query 0 matched to class 1 with uniform logits: NLL log 3; query 1 unmatched with
    # probabilities (1/2, 1/4, 1/4): NLL of no-object log 4, weight 0.1
    logits = torch.tensor([[[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]]])
    matcher = FixedMatcher([(torch.tensor([0]), torch.tensor([0]))])
    criterion = SetCriterion(2, matcher, {}, eos_coef=0.1, losses=("labels",))
    targets = [{"labels": torch.tensor([1]), "masks": torch.zeros(1, 2, 2)}]
    losses = criterion({"pred_logits": logits, "pred_masks": torch.zeros(1, 2, 2, 2)}, targets)
    assert set(losses) == {"loss_ce"}
    assert losses["loss_ce"].item() == pytest.approx((LN3 + 0.1 * math.log(4)) / 1.1)
    assert criterion.empty_weight.tolist() == pytest.approx([1.0, 1.0, 0.1])
    assert "empty_weight" in criterion.state_dict()


def test_maskformer_mask_losses_on_hand_computed_pair():
    """Predictions at the target resolution: focal and dice of the 2x2 example, matched pair
    only."""
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 1] = EXAMPLE_LOGITS.view(2, 2)
    pred[0, 0] = 7.0  # unmatched: must not count
    targets = [{"labels": torch.tensor([0]), "masks": EXAMPLE_TARGET.view(1, 2, 2).bool()}]
    matcher = FixedMatcher([(torch.tensor([1]), torch.tensor([0]))])
    criterion = SetCriterion(3, matcher, {}, 0.1, losses=("masks",), num_points=0)
    losses = criterion({"pred_logits": torch.zeros(1, 2, 4), "pred_masks": pred}, targets)
    assert losses["loss_dice"].item() == pytest.approx(0.3)
    focal = sigmoid_focal_loss(EXAMPLE_LOGITS, EXAMPLE_TARGET, 1.0)
    assert losses["loss_mask"].item() == pytest.approx(focal.item())


def test_maskformer_mask_losses_upsample_predictions_and_pad_targets():
    """Two images with 8x8 and 6x7 targets and 4x4 predictions: predictions are upsampled
    bilinearly to 8x8, targets zero-padded to 8x8, and the sum is divided by the 3 targets."""
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(2, 3, 4, 4, generator=g)
    masks0 = torch.rand(2, 8, 8, generator=g) > 0.5
    masks1 = torch.rand(1, 6, 7, generator=g) > 0.5
    targets = [
        {"labels": torch.tensor([0, 1]), "masks": masks0},
        {"labels": torch.tensor([2]), "masks": masks1},
    ]
    indices = [(torch.tensor([0, 2]), torch.tensor([1, 0])), (torch.tensor([1]), torch.tensor([0]))]
    criterion = SetCriterion(3, FixedMatcher(indices), {}, 0.1, losses=("masks",))
    losses = criterion({"pred_logits": torch.zeros(2, 3, 4), "pred_masks": pred}, targets)

    up = F.interpolate(pred, size=(8, 8), mode="bilinear", align_corners=False)
    padded1 = torch.zeros(8, 8)
    padded1[:6, :7] = masks1[0].float()
    matched_pred = torch.stack([up[0, 0], up[0, 2], up[1, 1]]).flatten(1)
    matched_tgt = torch.stack([masks0[1].float(), masks0[0].float(), padded1]).flatten(1)
    focal = torchvision_focal(matched_pred, matched_tgt, reduction="none").mean(1).sum() / 3
    prob = matched_pred.sigmoid()
    dice = (
        1 - (2 * (prob * matched_tgt).sum(1) + 1) / (prob.sum(1) + matched_tgt.sum(1) + 1)
    ).sum() / 3
    assert losses["loss_mask"].item() == pytest.approx(focal.item(), rel=1e-5)
    assert losses["loss_dice"].item() == pytest.approx(dice.item(), rel=1e-5)


def test_mask2former_point_losses_equal_dense_losses_on_pixel_centres(monkeypatch):
    """With every sampled point at a pixel centre of same-size predictions and targets (no
    importance sampling), point-sampled BCE and dice equal the dense losses."""
    h, w = 4, 6
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(1, 3, h, w, generator=g) * 2
    masks = torch.rand(2, h, w, generator=g) > 0.5
    targets = [{"labels": torch.tensor([0, 1]), "masks": masks}]
    indices = [(torch.tensor([0, 2]), torch.tensor([1, 0]))]
    criterion = SetCriterion(
        2,
        FixedMatcher(indices),
        {},
        0.1,
        losses=("masks",),
        num_points=h * w,
        oversample_ratio=1.0,
        importance_sample_ratio=0.0,
    )
    monkeypatch.setattr(torch, "rand", fake_rand_at_pixel_centres(h, w))
    losses = criterion({"pred_logits": torch.zeros(1, 3, 3), "pred_masks": pred}, targets)
    matched_pred = torch.stack([pred[0, 0], pred[0, 2]]).flatten(1)
    matched_tgt = torch.stack([masks[1], masks[0]]).flatten(1).float()
    bce = (
        F.binary_cross_entropy_with_logits(matched_pred, matched_tgt, reduction="none")
        .mean(1)
        .sum()
        / 2
    )
    assert losses["loss_mask"].item() == pytest.approx(bce.item(), rel=1e-5)
    assert losses["loss_dice"].item() == pytest.approx(
        dice_loss(matched_pred, matched_tgt, 2.0).item()
    )


def test_importance_sampling_concentrates_points_on_uncertain_pixels():
    """A confident, correct 32x32 mask except for a 2-column band of logit 0 (BCE log 2).
    Uniform points rarely hit the band; with importance ratio 0.75, 3/4 of the points are the
    most uncertain of 3x oversampled candidates, i.e. nearly all in the band."""
    pred = torch.full((1, 1, 32, 32), 8.0)
    pred[0, 0, :, 15:17] = 0.0
    targets = [{"labels": torch.tensor([0]), "masks": torch.ones(1, 32, 32, dtype=torch.bool)}]
    matcher = FixedMatcher([(torch.tensor([0]), torch.tensor([0]))])
    outputs = {"pred_logits": torch.zeros(1, 1, 2), "pred_masks": pred}

    def point_loss(ratio):
        crit = SetCriterion(
            1, matcher, {}, 0.1, ("masks",), num_points=256, importance_sample_ratio=ratio
        )
        return crit(outputs, targets)["loss_mask"].item()

    assert point_loss(0.75) > 0.3  # about 0.75 * log 2
    assert point_loss(0.0) < 0.2  # band and zero-padded border are a small share of the area


def _random_outputs(b, q, k, h, w, num_aux, g):
    def one():
        return {
            "pred_logits": torch.randn(b, q, k + 1, generator=g).requires_grad_(),
            "pred_masks": torch.randn(b, q, h, w, generator=g).requires_grad_(),
        }

    outputs = one()
    outputs["aux_outputs"] = [one() for _ in range(num_aux)]
    return outputs


@pytest.mark.parametrize("num_points", [0, 16])
def test_deep_supervision_keys_and_gradients(num_points):
    g = torch.Generator().manual_seed(4)
    outputs = _random_outputs(2, 5, 3, 4, 4, 2, g)
    targets = [
        {"labels": torch.tensor([0, 2]), "masks": torch.rand(2, 16, 16, generator=g) > 0.5},
        {"labels": torch.tensor([1]), "masks": torch.rand(1, 16, 16, generator=g) > 0.5},
    ]
    matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=num_points)
    criterion = SetCriterion(3, matcher, {}, 0.1, num_points=num_points)
    losses = criterion(outputs, targets)
    names = ["loss_ce", "loss_mask", "loss_dice"]
    assert set(losses) == set(names) | {f"{n}_{i}" for n in names for i in range(2)}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for out in [outputs] + outputs["aux_outputs"]:
        assert out["pred_logits"].grad.abs().sum() > 0
        assert out["pred_masks"].grad.abs().sum() > 0
    # aux losses depend only on their own outputs
    aux0 = outputs["aux_outputs"][0]
    assert (
        torch.autograd.grad(criterion(outputs, targets)["loss_dice_0"], aux0["pred_masks"])[0]
        .abs()
        .sum()
        > 0
    )


def test_each_output_is_matched_separately():
    matcher = FixedMatcher([(torch.tensor([0]), torch.tensor([0]))])
    criterion = SetCriterion(2, matcher, {}, 0.1)
    outputs = _random_outputs(1, 3, 2, 4, 4, 3, torch.Generator().manual_seed(0))
    criterion(outputs, [{"labels": torch.tensor([1]), "masks": torch.ones(1, 4, 4)}])
    assert matcher.calls == 4


@pytest.mark.parametrize("num_points", [0, 16])
def test_images_without_targets(num_points):
    """No targets at all: every query is supervised as no-object, mask losses are 0 (and still
    part of the graph), and normalization is clamped to 1."""
    outputs = _random_outputs(2, 4, 3, 4, 4, 0, torch.Generator().manual_seed(5))
    empty = {
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, 8, 8, dtype=torch.bool),
    }
    criterion = SetCriterion(
        3, HungarianMatcher(1.0, 20.0, 1.0, num_points), {}, 0.1, num_points=num_points
    )
    losses = criterion(outputs, [empty, empty])
    no_object = F.cross_entropy(outputs["pred_logits"].flatten(0, 1), torch.full((8,), 3))
    assert losses["loss_ce"].item() == pytest.approx(no_object.item(), rel=1e-5)
    assert losses["loss_mask"].item() == 0 and losses["loss_dice"].item() == 0
    sum(losses.values()).backward()


def test_num_masks_counts_targets_of_the_whole_batch():
    matcher = FixedMatcher(
        [(torch.tensor([0]), torch.tensor([0])), (torch.tensor([], dtype=torch.int64),) * 2]
    )
    criterion = SetCriterion(3, matcher, {}, 0.1, losses=("masks",))
    pred = torch.zeros(2, 2, 2, 2)
    pred[0, 0] = EXAMPLE_LOGITS.view(2, 2)
    mask = EXAMPLE_TARGET.view(1, 2, 2).bool()
    targets = [
        {"labels": torch.tensor([0]), "masks": mask},
        {"labels": torch.tensor([1, 2, 0]), "masks": mask.expand(3, 2, 2)},
    ]
    losses = criterion({"pred_logits": torch.zeros(2, 2, 4), "pred_masks": pred}, targets)
    assert losses["loss_dice"].item() == pytest.approx(0.3 / 4)


def test_bad_labels_and_unknown_losses_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown losses"):
        SetCriterion(3, FixedMatcher([]), {}, 0.1, losses=("labels", "boxes"))
    criterion = SetCriterion(3, FixedMatcher([]), {}, 0.1)
    outputs = {"pred_logits": torch.zeros(1, 2, 4), "pred_masks": torch.zeros(1, 2, 2, 2)}
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\).*255"):
        criterion(outputs, [{"labels": torch.tensor([255]), "masks": torch.ones(1, 2, 2)}])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mixed_precision_losses_match_cpu(monkeypatch):
    """Matcher and criterion on CUDA under fp16 autocast give the CPU fp32 losses (same points:
    every pixel centre)."""
    h, w = 4, 4
    g = torch.Generator().manual_seed(6)
    outputs = _random_outputs(2, 5, 3, h, w, 1, g)
    targets = [
        {"labels": torch.tensor([0, 2]), "masks": torch.rand(2, h, w, generator=g) > 0.5},
        {"labels": torch.tensor([1]), "masks": torch.rand(1, h, w, generator=g) > 0.5},
    ]
    matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=h * w)
    criterion = SetCriterion(
        3, matcher, {}, 0.1, num_points=h * w, oversample_ratio=1.0, importance_sample_ratio=0.0
    )
    monkeypatch.setattr(torch, "rand", fake_rand_at_pixel_centres(h, w))
    expected = criterion(outputs, targets)

    def to_cuda(out):
        return {k: v.detach().cuda() for k, v in out.items() if k != "aux_outputs"}

    cuda_outputs = to_cuda(outputs)
    cuda_outputs["aux_outputs"] = [to_cuda(aux) for aux in outputs["aux_outputs"]]
    cuda_targets = [{k: v.cuda() for k, v in t.items()} for t in targets]
    with torch.autocast("cuda", dtype=torch.float16):
        losses = criterion.cuda()(cuda_outputs, cuda_targets)
    assert set(losses) == set(expected)
    for name, value in losses.items():
        assert value.item() == pytest.approx(expected[name].item(), rel=1e-2, abs=1e-3), name
