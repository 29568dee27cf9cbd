"""HungarianMatcher against brute-force assignment over all injective target -> query maps."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from helpers.sampling import fake_rand_at_pixel_centres
from mask2former.modeling.criterion.matcher import HungarianMatcher


def dice(p, t):
    return 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)


def dense_cost(logits, masks, labels, weights, mask_loss):
    """Cost matrix (Q, N) from explicit per-pair formulas."""
    w_class, w_mask, w_dice = weights
    prob = logits.softmax(-1)
    q, n = logits.shape[0], len(labels)
    cost = torch.zeros(q, n)
    for i in range(q):
        for j in range(n):
            x, t = masks[0][i].flatten(), masks[1][j].flatten().float()
            cost[i, j] = (
                -w_class * prob[i, labels[j]]
                + w_mask * mask_loss(x, t)
                + w_dice * dice(x.sigmoid(), t)
            )
    return cost


def brute_force_min(cost):
    """Smallest total cost over every assignment of the N targets to distinct queries."""
    q, n = cost.shape
    if n == 0:
        return 0.0
    return min(
        sum(cost[p[j], j].item() for j in range(n)) for p in itertools.permutations(range(q), n)
    )


def focal_mean(x, t):
    return sigmoid_focal_loss(x, t, alpha=0.25, gamma=2, reduction="mean")


def bce_mean(x, t):
    return F.binary_cross_entropy_with_logits(x, t)


def random_case(q, n, k, h, w, generator):
    logits = torch.randn(q, k + 1, generator=generator) * 2
    pred = torch.randn(q, h, w, generator=generator) * 3
    tgt = torch.rand(n, h, w, generator=generator) > 0.5
    labels = torch.randint(0, k, (n,), generator=generator)
    return logits, pred, tgt, labels


def check_optimal(cost, pred_idx, tgt_idx, n_queries):
    n = cost.shape[1]
    assert pred_idx.dtype == torch.int64 and tgt_idx.dtype == torch.int64
    assert len(pred_idx) == len(tgt_idx) == min(n_queries, n)
    assert len(set(pred_idx.tolist())) == len(pred_idx)
    assert sorted(tgt_idx.tolist()) == list(range(n))
    total = cost[pred_idx, tgt_idx].sum().item() if n else 0.0
    assert total == pytest.approx(brute_force_min(cost), abs=1e-4)


@pytest.mark.parametrize("q,n", [(4, 0), (4, 1), (4, 3), (4, 4), (5, 2)])
def test_maskformer_matching_is_optimal(q, n):
    g = torch.Generator().manual_seed(10 * q + n)
    weights = (1.0, 20.0, 1.0)
    matcher = HungarianMatcher(*weights, num_points=0)
    batch = [random_case(q, n, 3, 6, 5, g), random_case(q, max(n - 1, 0), 3, 6, 5, g)]
    outputs = {
        "pred_logits": torch.stack([c[0] for c in batch]),
        "pred_masks": torch.stack([c[1] for c in batch]),
    }
    targets = [{"labels": c[3], "masks": c[2]} for c in batch]
    indices = matcher(outputs, targets)
    assert len(indices) == 2
    for (logits, pred, tgt, labels), (pred_idx, tgt_idx) in zip(batch, indices):
        cost = dense_cost(logits, (pred, tgt), labels, weights, focal_mean)
        check_optimal(cost, pred_idx, tgt_idx, q)


@pytest.mark.parametrize("q,n", [(3, 0), (3, 2), (3, 3), (5, 3)])
def test_mask2former_matching_on_pixel_centres_is_optimal(q, n, monkeypatch):
    """With the sampled points at every pixel centre, point costs equal dense costs."""
    h, w = 4, 5
    g = torch.Generator().manual_seed(q + 7 * n)
    weights = (2.0, 5.0, 5.0)
    matcher = HungarianMatcher(*weights, num_points=h * w)
    logits, pred, tgt, labels = random_case(q, n, 4, h, w, g)
    monkeypatch.setattr(torch, "rand", fake_rand_at_pixel_centres(h, w))
    ((pred_idx, tgt_idx),) = matcher(
        {"pred_logits": logits[None], "pred_masks": pred[None]}, [{"labels": labels, "masks": tgt}]
    )
    cost = dense_cost(logits, (pred, tgt), labels, weights, bce_mean)
    check_optimal(cost, pred_idx, tgt_idx, q)


def test_fewer_queries_than_targets_matches_every_query():
    g = torch.Generator().manual_seed(3)
    logits, pred, tgt, labels = random_case(2, 4, 3, 4, 4, g)
    weights = (1.0, 20.0, 1.0)
    ((pred_idx, tgt_idx),) = HungarianMatcher(*weights)(
        {"pred_logits": logits[None], "pred_masks": pred[None]}, [{"labels": labels, "masks": tgt}]
    )
    cost = dense_cost(logits, (pred, tgt), labels, weights, focal_mean)
    assert sorted(pred_idx.tolist()) == [0, 1]
    best = min(
        cost[0, a].item() + cost[1, b].item() for a, b in itertools.permutations(range(4), 2)
    )
    assert cost[pred_idx, tgt_idx].sum().item() == pytest.approx(best, abs=1e-4)


def test_class_cost_alone_matches_most_probable_queries():
    # query 0 is sure of class 2, query 1 of class 0, query 2 of class 1
    logits = torch.full((1, 3, 4), -5.0)
    logits[0, 0, 2] = logits[0, 1, 0] = logits[0, 2, 1] = 5.0
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    targets = [{"labels": torch.tensor([0, 1, 2]), "masks": masks}]
    matcher = HungarianMatcher(cost_class=1.0, cost_mask=0.0, cost_dice=0.0, num_points=16)
    ((pred_idx, tgt_idx),) = matcher(
        {"pred_logits": logits, "pred_masks": torch.zeros(1, 3, 2, 2)}, targets
    )
    assert dict(zip(tgt_idx.tolist(), pred_idx.tolist())) == {0: 1, 1: 2, 2: 0}


def test_maskformer_targets_are_resized_to_prediction_grid_by_nearest():
    """Targets at 8x8, predictions at 4x4: the cost uses every second target pixel."""
    g = torch.Generator().manual_seed(5)
    logits, pred, _, labels = random_case(3, 2, 2, 4, 4, g)
    tgt = torch.rand(2, 8, 8, generator=g) > 0.5
    weights = (1.0, 20.0, 1.0)
    ((pred_idx, tgt_idx),) = HungarianMatcher(*weights)(
        {"pred_logits": logits[None], "pred_masks": pred[None]}, [{"labels": labels, "masks": tgt}]
    )
    cost = dense_cost(logits, (pred, tgt[:, ::2, ::2]), labels, weights, focal_mean)
    check_optimal(cost, pred_idx, tgt_idx, 3)


def test_dice_cost_of_a_hand_computed_pair():
    """One query, one target, dice cost only: cost 0.3 from the 2x2 example in test_criterion."""
    pred = torch.tensor([[[0.0, 0.0], [math.log(3), -math.log(3)]]])
    tgt = torch.tensor([[[1, 0], [1, 0]]], dtype=torch.bool)
    matcher = HungarianMatcher(cost_class=0.0, cost_mask=0.0, cost_dice=1.0)
    costs = matcher._mask_costs(pred, tgt.float())
    assert costs[1].item() == pytest.approx(0.3, abs=1e-6)


def test_bad_targets_raise_clear_errors_and_diverged_predictions_are_matched():
    matcher = HungarianMatcher(1.0, 1.0, 1.0, num_points=4)
    outputs = {"pred_logits": torch.zeros(2, 3, 3), "pred_masks": torch.zeros(2, 3, 4, 4)}
    target = {"labels": torch.tensor([0]), "masks": torch.ones(1, 4, 4)}
    with pytest.raises(ValueError, match="Expected 2 target dicts"):
        matcher(outputs, [target])
    with pytest.raises(ValueError, match="'masks' of shape"):
        matcher(outputs, [target, {"labels": torch.tensor([0, 1]), "masks": torch.ones(1, 4, 4)}])
    # diverged predictions are still matched (non-finite costs count as 0), so that the
    # criterion computes the non-finite losses that the train loop reports
    outputs["pred_masks"][1, 0] = float("nan")
    outputs["pred_logits"][1, 1] = float("inf")
    indices = matcher(outputs, [target, target])
    assert [len(pred) for pred, _ in indices] == [1, 1]
    with pytest.raises(ValueError, match="all 0"):
        HungarianMatcher(0.0, 0.0, 0.0)
