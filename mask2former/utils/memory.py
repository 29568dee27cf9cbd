"""Peak memory of a block of code, for the benchmark scripts (tools/benchmark*.py): torch's peak
allocation on CUDA; on the CPU the process's peak resident set size."""

import contextlib
import threading
from typing import Dict

import torch


class Memory:
    """Peak memory of a block: max allocated on CUDA; on CPU the resident set size, from the
    kernel's high-water mark (reset through /proc/self/clear_refs) or, where that is not
    possible, by polling."""

    def __init__(self, device: str):
        self.device = device

    @staticmethod
    def _rss_kib(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"{field} not in /proc/self/status")

    @contextlib.contextmanager
    def peak(self, result: Dict):
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            yield
            torch.cuda.synchronize()
            result["peak_mib"] = max(
                result.get("peak_mib", 0.0), torch.cuda.max_memory_allocated() / 2**20
            )
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            polled = None
        except OSError:
            polled = [self._rss_kib("VmRSS")]
            stop = threading.Event()

            def poll():
                while not stop.wait(0.005):
                    polled.append(self._rss_kib("VmRSS"))

            thread = threading.Thread(target=poll, daemon=True)
            thread.start()
        yield
        if polled is None:
            peak_kib = self._rss_kib("VmHWM")
        else:
            stop.set()
            thread.join()
            peak_kib = max(polled)
        result["peak_mib"] = max(result.get("peak_mib", 0.0), peak_kib / 1024)


def held_mib(device: str) -> float:
    """What the process holds now, in MiB, to subtract from a peak: torch's allocation on CUDA,
    the resident set size on the CPU."""
    if device == "cuda":
        return torch.cuda.memory_allocated() / 2**20
    return Memory._rss_kib("VmRSS") / 1024
