"""This process's resident memory as Linux reports it in ``/proc/self``: the CPU memory figures
of the benchmark scripts."""

__all__ = ["status_kib", "reset_peak"]


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
