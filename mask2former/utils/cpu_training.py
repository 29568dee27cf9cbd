"""The quickstarts' training run (``tools/quickstart.py``, ``tools/quickstart_video.py``): a
model trained from scratch on the CPU cores that are idle, timed."""

import os
import time
from typing import Optional, Tuple

import torch

__all__ = ["idle_cores", "train_from_scratch"]


def idle_cores() -> int:
    """The cores this process may run on less the load average (the busy ones), at least 1."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores, round(cores - os.getloadavg()[0])))


def train_from_scratch(trainer_class, cfg, threads: Optional[int] = None) -> Tuple:
    """Trains ``trainer_class(cfg)`` (a Detectron2 ``DefaultTrainer``) from its initial weights
    on ``threads`` CPU threads (None: :func:`idle_cores`); returns the trainer, what its
    ``train()`` returned (the final evaluation) and the minutes it took."""
    torch.set_num_threads(threads or idle_cores())
    print(f"training on {torch.get_num_threads()} CPU thread(s)")
    start = time.time()
    trainer = trainer_class(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    return trainer, results, (time.time() - start) / 60
