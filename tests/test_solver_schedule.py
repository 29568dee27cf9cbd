"""Warmup + poly learning-rate schedule values, per parameter group."""
import pytest
from torch import nn

from mask2former.solver import build_lr_scheduler, build_optimizer
from conftest import make_tiny_cfg


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


def test_warmup_poly_values():
    cfg = make_tiny_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupPolyLR"
    cfg.SOLVER.BASE_LR = 1e-3
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    cfg.SOLVER.MAX_ITER = 100
    cfg.SOLVER.WARMUP_ITERS = 10
    cfg.SOLVER.WARMUP_FACTOR = 0.1
    cfg.SOLVER.WARMUP_METHOD = "linear"
    cfg.SOLVER.POLY_LR_POWER = 0.9
    cfg.SOLVER.POLY_LR_CONSTANT_ENDING = 0.0
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
    cfg = make_tiny_cfg()
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.5
    cfg.SOLVER.MAX_ITER = 20
    cfg.SOLVER.WARMUP_ITERS = 0
    cfg.SOLVER.STEPS = (10,)
    cfg.SOLVER.GAMMA = 0.1
    lrs = _lrs_over_iterations(cfg, 20)
    assert lrs[9] == pytest.approx([0.5, 1.0])
    assert lrs[10] == pytest.approx([0.05, 0.1])
