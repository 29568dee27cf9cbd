"""Parameter groups (backbone multiplier, no-decay sets), optimizer types and gradient clipping."""

import math

import pytest
import torch
from torch import nn

from helpers.configs import make_tiny_cfg
from mask2former.errors import UserError
from mask2former.solver import build_optimizer, get_param_groups


class ToyModel(nn.Module):
    """Names chosen like the real model: "backbone.*", norms, query embeddings, a Swin table."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.backbone.register_parameter(
            "relative_position_bias_table", nn.Parameter(torch.zeros(3))
        )
        self.head = nn.Linear(4, 4)
        self.head_norm = nn.LayerNorm(4)
        self.group_norm = nn.GroupNorm(2, 4)
        self.query_feat = nn.Embedding(8, 4)
        self.tied = nn.Linear(4, 4, bias=False)
        self.tied.weight = self.head.weight  # shared parameter: must appear once
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def _cfg(**solver):
    cfg = make_tiny_cfg()
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.BACKBONE_MULTIPLIER = 0.1
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.WEIGHT_DECAY_NORM = 0.0
    cfg.SOLVER.WEIGHT_DECAY_EMBED = 0.0
    for key, value in solver.items():
        setattr(cfg.SOLVER, key, value)
    return cfg


def _hyperparams_by_name(groups):
    return {
        name: (group["lr"], group["weight_decay"])
        for group in groups
        for name in group["param_names"]
    }


def test_param_groups_multiplier_and_no_decay_sets():
    cfg = _cfg(WEIGHT_DECAY_NORM=0.001, WEIGHT_DECAY_EMBED=0.002)
    groups = get_param_groups(cfg, ToyModel())
    got = _hyperparams_by_name(groups)
    expected = {
        "backbone.0.weight": (0.1, 0.05),
        "backbone.0.bias": (0.1, 0.05),
        "backbone.1.weight": (0.1, 0.001),  # BatchNorm
        "backbone.1.bias": (0.1, 0.001),
        "backbone.relative_position_bias_table": (0.1, 0.0),
        "head.weight": (1.0, 0.05),
        "head.bias": (1.0, 0.05),
        "head_norm.weight": (1.0, 0.001),  # LayerNorm
        "head_norm.bias": (1.0, 0.001),
        "group_norm.weight": (1.0, 0.001),
        "group_norm.bias": (1.0, 0.001),
        "query_feat.weight": (1.0, 0.002),  # Embedding
    }
    assert got.keys() == expected.keys()  # tied weight once, frozen parameters left out
    for name, (lr, wd) in expected.items():
        assert got[name] == pytest.approx((lr, wd)), name
    # groups with identical hyper-parameters are merged: 6 distinct (lr, wd) pairs above
    assert len(groups) == len(set(expected.values())) == 6
    assert sum(len(g["params"]) for g in groups) == len(expected)


@pytest.mark.parametrize(
    "name, optimizer_type", [("ADAMW", torch.optim.AdamW), ("SGD", torch.optim.SGD)]
)
def test_build_optimizer_types(name, optimizer_type):
    cfg = _cfg(OPTIMIZER=name, MOMENTUM=0.9)
    optimizer = build_optimizer(cfg, ToyModel())
    assert isinstance(optimizer, optimizer_type)
    if name == "SGD":
        assert all(g["momentum"] == 0.9 for g in optimizer.param_groups)
    lrs = sorted({g["lr"] for g in optimizer.param_groups})
    assert lrs == pytest.approx([0.1, 1.0])


@pytest.mark.parametrize("value", ["AdamW", "adamw", "Sgd", "sgd"])
def test_optimizer_names_ignore_case(value):
    optimizer = build_optimizer(_cfg(OPTIMIZER=value), ToyModel())
    assert type(optimizer) is {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[value.lower()]


def test_unknown_optimizer_names_the_key():
    with pytest.raises(
        UserError,
        match=r"SOLVER.OPTIMIZER: unknown optimizer 'LAMB'; expected one of \['ADAMW', 'SGD'",
    ):
        build_optimizer(_cfg(OPTIMIZER="LAMB"), ToyModel())


def _step_with_gradient(cfg, model, grad_value):
    optimizer = build_optimizer(cfg, model)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.full_like(p, grad_value)
    optimizer.step()
    return {n: before[n] - p.detach() for n, p in model.named_parameters() if p.requires_grad}


def _plain_sgd_cfg(clip_type=None):
    """Plain SGD with lr 1 and no decay: a step's update equals the (clipped) gradient. With
    ``clip_type``, gradients are clipped to 0.5 that way."""
    cfg = _cfg(OPTIMIZER="SGD", MOMENTUM=0.0, WEIGHT_DECAY=0.0, BACKBONE_MULTIPLIER=1.0)
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = clip_type is not None
    if clip_type is not None:
        cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = clip_type
        cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.5
    return cfg


def test_full_model_gradient_clipping_clips_the_global_norm():
    model = ToyModel()
    updates = _step_with_gradient(_plain_sgd_cfg("full_model"), model, 1.0)
    num_elements = sum(p.numel() for p in set(model.parameters()) if p.requires_grad)
    global_norm = math.sqrt(num_elements)  # every gradient entry is 1
    for update in updates.values():
        torch.testing.assert_close(update, torch.full_like(update, 0.5 / global_norm))


def test_per_parameter_norm_clipping_is_detectron2s():
    updates = _step_with_gradient(_plain_sgd_cfg("norm"), ToyModel(), 1.0)
    for name, update in updates.items():
        assert update.norm().item() == pytest.approx(0.5, rel=1e-4), name  # each clipped alone


def test_clipping_disabled_leaves_gradients():
    updates = _step_with_gradient(_plain_sgd_cfg(), ToyModel(), 1.0)
    for update in updates.values():
        torch.testing.assert_close(update, torch.ones_like(update))


def _first_moment_norm_after_one_step(cfg, loss_scale):
    """Norm over the whole model of AdamW's first moment after one step with full-model
    clipping on a quadratic loss, through GradScaler with ``loss_scale`` (None: no scaler)."""
    torch.manual_seed(0)
    model = ToyModel()
    optimizer = build_optimizer(cfg, model)
    loss = sum((p**2).sum() * 100 for p in model.parameters() if p.requires_grad)
    if loss_scale is None:
        loss.backward()
        optimizer.step()
    else:
        scaler = torch.amp.GradScaler("cpu", init_scale=loss_scale)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    moments = [optimizer.state[p]["exp_avg"] for g in optimizer.param_groups for p in g["params"]]
    return torch.linalg.vector_norm(torch.cat([m.flatten() for m in moments])).item()


def test_adamw_is_fused_and_clips_unscaled_gradients_under_grad_scaler():
    cfg = _cfg(OPTIMIZER="ADAMW", WEIGHT_DECAY=0.0, BACKBONE_MULTIPLIER=1.0, BASE_LR=0.1)
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.01
    optimizer = build_optimizer(cfg, ToyModel())
    assert all(group["fused"] for group in optimizer.param_groups)
    # the first moment after one step is (1 - beta1) * the clipped gradient, whose norm is the
    # clip value; AdamW's update itself would not show it (it is invariant to gradient scale)
    expected = (1 - 0.9) * 0.01
    assert _first_moment_norm_after_one_step(cfg, None) == pytest.approx(expected, rel=1e-4)
    assert _first_moment_norm_after_one_step(cfg, 2.0**12) == pytest.approx(expected, rel=1e-4)


def test_fused_adamw_matches_the_for_loop_implementation():
    cfg = _cfg(OPTIMIZER="ADAMW")
    torch.manual_seed(0)
    fused_model, loop_model = ToyModel(), ToyModel()
    loop_model.load_state_dict(fused_model.state_dict())
    fused = build_optimizer(cfg, fused_model)
    loop = torch.optim.AdamW(get_param_groups(cfg, loop_model), lr=cfg.SOLVER.BASE_LR, fused=False)
    for _ in range(3):
        for model, optimizer in ((fused_model, fused), (loop_model, loop)):
            optimizer.zero_grad()
            sum((p**3).sum() for p in model.parameters() if p.requires_grad).backward()
            optimizer.step()
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
