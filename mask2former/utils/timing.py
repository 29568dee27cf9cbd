"""The timing of the benchmark scripts (tools/benchmark*.py): warm-up calls, then repeated
calls each timed by the wall clock and by this process's CPU time, waiting for a CUDA device's
queued work at both ends of every call so that asynchronous kernels are counted."""

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import torch

Device = Union[str, torch.device, None]


def clock(device: Device = None) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` has finished (CUDA devices;
    nothing to wait for on the CPU or with None)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass(frozen=True)
class Timings:
    """Seconds per call of the timed calls, by the wall clock (``seconds``) and by the CPU
    time of this process (``cpu_seconds``, steadier on a shared machine); ``output`` is what
    the last call returned."""

    seconds: Sequence[float]
    cpu_seconds: Sequence[float]
    output: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_seconds)


def time_calls(
    fn: Callable[[], Any], *, repeats: int, warmup: int = 1, device: Device = None
) -> Timings:
    """Call ``fn()`` ``warmup`` times untimed (caches, allocator, autotuning), then ``repeats``
    times timed one by one; ``device``: the device ``fn`` runs on (its CUDA work is waited
    for, see :func:`clock`)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        fn()
    seconds, cpu_seconds = [], []
    output = None
    for _ in range(repeats):
        start, cpu_start = clock(device), time.process_time()
        output = fn()
        seconds.append(clock(device) - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return Timings(seconds, cpu_seconds, output)
