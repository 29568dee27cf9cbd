"""SOLVER.AMP.ENABLED on CPU: training forward passes run under bfloat16 autocast, the losses
stay float32 and close to the float32 step's; backward, optimizer and evaluation run outside."""

import copy
import logging

import torch
from conftest import make_tiny_cfg
from detectron2.modeling import build_model
from test_model_training import synthetic_batch

from mask2former.engine import (
    MaskFormerAMPTrainer,
    MaskFormerCPUAMPTrainer,
    MaskFormerSimpleTrainer,
    step_trainer_class,
)


def _step(trainer_class, model, batch):
    """One training step of ``trainer_class`` on ``batch``: the loss dict and the dtype of the
    backbone's last features, both recorded by forward hooks."""
    seen = {}
    model.backbone.register_forward_hook(lambda m, i, out: seen.update(features=out["res5"].dtype))
    model.register_forward_hook(lambda m, i, out: seen.update(losses=out))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(0)  # the same sampled points in both steps, where the logits agree
    trainer_class(model, [batch], optimizer).train(0, 1)
    return seen


def test_cpu_amp_step_runs_under_bf16_autocast_with_float32_losses():
    cfg = make_tiny_cfg()
    model = build_model(cfg).train()
    float32_model = copy.deepcopy(model)
    batch = synthetic_batch()

    amp = _step(MaskFormerCPUAMPTrainer, model, batch)
    assert amp["features"] == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")  # left after the forward pass
    # the point-sampled mask and dice losses and the class loss are computed in float32
    assert {loss.dtype for loss in amp["losses"].values()} == {torch.float32}
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())

    reference = _step(MaskFormerSimpleTrainer, float32_model, batch)
    assert reference["features"] == torch.float32
    total = sum(amp["losses"].values()).item()
    expected = sum(reference["losses"].values()).item()
    assert abs(total - expected) <= 0.02 * expected, (total, expected)

    # evaluation forward passes are not autocast
    model.eval()
    with torch.no_grad():
        scores = model([{"image": batch[0]["image"]}])[0]["sem_seg"]
    assert scores.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")


def test_a_failing_forward_pass_leaves_autocast():
    class Failing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))

        def forward(self, batch):
            assert torch.is_autocast_enabled("cpu")
            raise RuntimeError("broken batch")

    model = Failing()
    trainer = MaskFormerCPUAMPTrainer(model, [[{}]], torch.optim.SGD(model.parameters(), lr=0.1))
    try:
        trainer.train(0, 1)
    except RuntimeError as e:
        assert "broken batch" in str(e)
    else:
        raise AssertionError("the forward pass did not raise")
    assert not torch.is_autocast_enabled("cpu")


def test_step_trainer_of_the_config(caplog):
    cfg = make_tiny_cfg()
    assert step_trainer_class(cfg) is MaskFormerSimpleTrainer
    cfg.SOLVER.AMP.ENABLED = True
    with caplog.at_level(logging.INFO, logger="mask2former"):
        assert step_trainer_class(cfg) is MaskFormerCPUAMPTrainer
    assert (
        "SOLVER.AMP.ENABLED on CPU: training forward passes run under bfloat16 autocast"
        in caplog.text
    )
    # the slow-CPU advice follows PyTorch's view of the CPU
    with_advice = "no AVX-512" in caplog.text
    assert with_advice == ("AVX512" not in torch.backends.cpu.get_cpu_capability())
    cfg.MODEL.DEVICE = "cuda"
    assert step_trainer_class(cfg) is MaskFormerAMPTrainer
