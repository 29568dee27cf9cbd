"""Learning-rate schedules: DeepLab's warm-up + poly schedule (``WarmupPolyLR``, the published
configs' choice) or any of Detectron2's, each following the config it was built from when a
run is resumed with a changed schedule (a longer SOLVER.MAX_ITER, say)."""

import logging

import torch
from detectron2.config import CfgNode
from detectron2.projects.deeplab.lr_scheduler import WarmupPolyLR as DeepLabWarmupPolyLR
from detectron2.solver import build_lr_scheduler as build_d2_lr_scheduler

logger = logging.getLogger(__name__)


class WarmupPolyLR(DeepLabWarmupPolyLR):
    """DeepLab's ``WarmupPolyLR`` whose shape comes from the config, also when resumed.

    Its state_dict holds the schedule's settings besides its progress, and the parent's
    ``load_state_dict`` restores them all: a run resumed with a longer SOLVER.MAX_ITER would
    keep the old length and fail past it (``math domain error``: a negative base to the power
    0.9). Here a checkpoint restores the progress (iteration, base learning rates) and the
    settings stay the config's; those that differ from the checkpoint's are logged.
    """

    # attribute -> the config key it comes from (see build_lr_scheduler)
    SETTINGS = {
        "max_iters": "SOLVER.MAX_ITER",
        "warmup_factor": "SOLVER.WARMUP_FACTOR",
        "warmup_iters": "SOLVER.WARMUP_ITERS",
        "warmup_method": "SOLVER.WARMUP_METHOD",
        "power": "SOLVER.POLY_LR_POWER",
        "constant_ending": "SOLVER.POLY_LR_CONSTANT_ENDING",
    }

    def load_state_dict(self, state_dict):
        for name, key in self.SETTINGS.items():
            if name in state_dict and state_dict[name] != getattr(self, name):
                logger.info(
                    f"Learning-rate schedule: {key} is {getattr(self, name)} in the config and "
                    f"{state_dict[name]} in the checkpoint; the schedule follows the config from "
                    f"iteration {state_dict.get('last_epoch', '?')} on."
                )
        super().load_state_dict({k: v for k, v in state_dict.items() if k not in self.SETTINGS})


def build_lr_scheduler(cfg: CfgNode, optimizer: torch.optim.Optimizer):
    """``WarmupPolyLR`` above for SOLVER.LR_SCHEDULER_NAME "WarmupPolyLR", else Detectron2's
    scheduler of that name (their state_dicts hold only the progress already)."""
    if cfg.SOLVER.LR_SCHEDULER_NAME != "WarmupPolyLR":
        return build_d2_lr_scheduler(cfg, optimizer)
    return WarmupPolyLR(
        optimizer,
        cfg.SOLVER.MAX_ITER,
        warmup_factor=cfg.SOLVER.WARMUP_FACTOR,
        warmup_iters=cfg.SOLVER.WARMUP_ITERS,
        warmup_method=cfg.SOLVER.WARMUP_METHOD,
        power=cfg.SOLVER.POLY_LR_POWER,
        constant_ending=cfg.SOLVER.POLY_LR_CONSTANT_ENDING,
    )


def apply_schedule(scheduler) -> None:
    """Set the optimizer's learning rates to the schedule's values at its current iteration.

    Needed after resuming: Detectron2 loads the optimizer after the scheduler, so the param
    groups keep the learning rates saved in the checkpoint, which are the old schedule's if the
    config changed it. ``scheduler`` is one of ``build_lr_scheduler``'s (their ``get_lr`` only
    computes)."""
    for group, lr in zip(scheduler.optimizer.param_groups, scheduler.get_lr()):
        group["lr"] = lr
