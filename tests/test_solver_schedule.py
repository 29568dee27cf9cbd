"""Warmup + poly learning-rate schedule values, per parameter group, and resuming a schedule
with a changed config."""

import logging

import pytest
from torch import nn

from helpers.configs import make_tiny_cfg
from mask2former.solver import apply_schedule, build_lr_scheduler, build_optimizer


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.head = nn.Linear(2, 2)


def _lrs_over_iterations(cfg, num_iters):
    optimizer = build_optimizer(cfg, _Model())
    scheduler = build_lr_scheduler(cfg, optimizer)
    lrs = []
    for _ in range(num_iters):
        lrs.append(sorted(g["lr"] for g in optimizer.param_groups))
        optimizer.step()
        scheduler.step()
    return lrs


def _schedule_cfg(name, max_iter, warmup_iters=4, base_lr=1.0, backbone_multiplier=0.5):
    """The tiny config trained by the scheduler ``name`` for ``max_iter`` iterations at
    ``base_lr`` (the backbone's times ``backbone_multiplier``), warmed up linearly from 0.1 of
    it over ``warmup_iters``; a poly schedule of power 0.9 ending at 0."""
    cfg = make_tiny_cfg()
    cfg.merge_from_list(
        [
            "SOLVER.LR_SCHEDULER_NAME",
            name,
            "SOLVER.MAX_ITER",
            max_iter,
            "SOLVER.BASE_LR",
            base_lr,
            "SOLVER.BACKBONE_MULTIPLIER",
            backbone_multiplier,
            "SOLVER.WARMUP_ITERS",
            warmup_iters,
            "SOLVER.WARMUP_FACTOR",
            0.1,
            "SOLVER.WARMUP_METHOD",
            "linear",
            "SOLVER.POLY_LR_POWER",
            0.9,
            "SOLVER.POLY_LR_CONSTANT_ENDING",
            0.0,
        ]
    )
    return cfg


def test_warmup_poly_values():
    cfg = _schedule_cfg("WarmupPolyLR", 100, warmup_iters=10, base_lr=1e-3, backbone_multiplier=0.1)
    lrs = _lrs_over_iterations(cfg, 100)
    # lr(t) = base * warmup(t) * (1 - t / 100) ** 0.9, warmup(t) = 0.1 + 0.9 * t / 10 for t < 10
    expected = {
        0: 0.1,
        5: 0.55 * 0.95**0.9,
        10: 0.9**0.9,
        50: 0.5**0.9,
        99: 0.01**0.9,
    }
    for t, factor in expected.items():
        assert lrs[t] == pytest.approx([1e-4 * factor, 1e-3 * factor], rel=1e-6), t
    # monotone decay after warm-up
    heads = [lr[1] for lr in lrs[10:]]
    assert all(a > b for a, b in zip(heads, heads[1:]))


def test_other_schedulers_fall_back_to_detectron2():
    cfg = _schedule_cfg("WarmupMultiStepLR", 20, warmup_iters=0)
    cfg.SOLVER.STEPS = (10,)
    cfg.SOLVER.GAMMA = 0.1
    lrs = _lrs_over_iterations(cfg, 20)
    assert lrs[9] == pytest.approx([0.5, 1.0])
    assert lrs[10] == pytest.approx([0.05, 0.1])


def _train(cfg, first_iter=0, stop_iter=None, checkpoint=None):
    """Learning rates of iterations first_iter .. stop_iter - 1 (default MAX_ITER - 1) and the
    state after them, resuming like Detectron2 does: the scheduler's state, then the
    optimizer's, then apply_schedule (as Trainer.resume_or_load)."""
    optimizer = build_optimizer(cfg, _Model())
    scheduler = build_lr_scheduler(cfg, optimizer)
    if checkpoint is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        apply_schedule(scheduler)
    lrs = []
    for _ in range(first_iter, cfg.SOLVER.MAX_ITER if stop_iter is None else stop_iter):
        lrs.append(sorted(g["lr"] for g in optimizer.param_groups))
        optimizer.step()
        scheduler.step()
    return lrs, {"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}


@pytest.mark.parametrize("name", ["WarmupPolyLR", "WarmupCosineLR"])
def test_resuming_with_a_longer_schedule_follows_the_new_config(name, caplog):
    """20 iterations, then resumed with MAX_ITER 40: iterations 20-39 get the learning rates of
    an uninterrupted 40-iteration run (the poly schedule used to keep its old length and fail
    with a math domain error at iteration 21)."""
    _, checkpoint = _train(_schedule_cfg(name, 20))
    uninterrupted, _ = _train(_schedule_cfg(name, 40))
    with caplog.at_level(logging.INFO, logger="mask2former.solver.lr_scheduler"):
        resumed, final = _train(_schedule_cfg(name, 40), first_iter=20, checkpoint=checkpoint)
    assert len(resumed) == 20
    assert resumed == uninterrupted[20:]  # the same formula at the same iterations
    if name == "WarmupPolyLR":
        # lr(t) = base * (1 - t / 40) ** 0.9 after warm-up: at iteration 20 no longer 0
        assert resumed[0] == pytest.approx([0.5 * 0.5**0.9, 0.5**0.9], rel=1e-12)
        assert final["scheduler"]["max_iters"] == 40
        assert (
            "SOLVER.MAX_ITER is 40 in the config and 20 in the checkpoint; the schedule follows "
            "the config from iteration 20 on." in caplog.text
        )


def test_resuming_with_the_same_schedule_continues_it_silently(caplog):
    uninterrupted, finished = _train(_schedule_cfg("WarmupPolyLR", 20))
    _, halfway = _train(_schedule_cfg("WarmupPolyLR", 20), stop_iter=10)
    with caplog.at_level(logging.INFO, logger="mask2former.solver.lr_scheduler"):
        resumed, final = _train(
            _schedule_cfg("WarmupPolyLR", 20), first_iter=10, checkpoint=halfway
        )
    assert resumed == uninterrupted[10:]
    assert final["scheduler"] == finished["scheduler"]
    assert "Learning-rate schedule" not in caplog.text
