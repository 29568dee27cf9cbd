"""Training: the trainer of ``train_net.py``, atomic checkpoints, finite-loss checks, bfloat16
autocast on CPU."""

from ..checkpoint.atomic import AtomicCheckpointer, atomic_open
from .train_loop import (
    LossDivergedError,
    MaskFormerAMPTrainer,
    MaskFormerCPUAMPTrainer,
    MaskFormerSimpleTrainer,
)
from .trainer import Trainer, step_trainer_class

__all__ = [
    "AtomicCheckpointer",
    "LossDivergedError",
    "MaskFormerAMPTrainer",
    "MaskFormerCPUAMPTrainer",
    "MaskFormerSimpleTrainer",
    "Trainer",
    "atomic_open",
    "step_trainer_class",
]
