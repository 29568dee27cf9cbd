"""Memory figures of the benchmark scripts (tools/benchmark*.py): on the CPU this process's
resident memory as Linux reports it in ``/proc/self``, on CUDA torch's allocations."""

import contextlib
import json
import subprocess
import sys
import threading
from typing import Dict, Sequence

import torch


def status_kib(field: str) -> int:
    """A memory field of ``/proc/self/status`` in KiB, e.g. "VmRSS" (resident now) or "VmHWM"
    (the resident peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Resets VmHWM to the current resident set; OSError where the kernel does not allow it."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class Memory:
    """Peak memory of a block: max allocated on CUDA; on CPU the resident set size, from the
    kernel's high-water mark (reset through /proc/self/clear_refs) or, where that is not
    possible, by polling."""

    def __init__(self, device: str):
        self.device = device

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
            reset_peak()
            polled = None
        except OSError:
            polled = [status_kib("VmRSS")]
            stop = threading.Event()

            def poll():
                while not stop.wait(0.005):
                    polled.append(status_kib("VmRSS"))

            thread = threading.Thread(target=poll, daemon=True)
            thread.start()
        yield
        if polled is None:
            peak_kib = status_kib("VmHWM")
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
    return status_kib("VmRSS") / 1024


def measure_in_fresh_process(command: Sequence[str], what: str) -> Dict:
    """Runs ``command`` (a benchmark's own measurement, which prints a JSON object as its last
    line) in a fresh process, so that no memory held by an earlier measurement counts, and
    returns that object. A failure shows the child's error output and raises RuntimeError
    naming ``what``."""
    done = subprocess.run(list(command), capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{what} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])
