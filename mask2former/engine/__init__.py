"""Training: the trainer of ``train_net.py``, atomic checkpoints, finite-loss checks."""
from ..checkpoint.atomic import AtomicCheckpointer, atomic_open
from .train_loop import LossDivergedError, MaskFormerAMPTrainer, MaskFormerSimpleTrainer
from .trainer import Trainer, uses_amp

__all__ = [
    "AtomicCheckpointer",
    "LossDivergedError",
    "MaskFormerAMPTrainer",
    "MaskFormerSimpleTrainer",
    "Trainer",
    "atomic_open",
    "uses_amp",
]
