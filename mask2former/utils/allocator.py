"""Process-wide tuning of glibc's allocator for CPU inference and training.

Every forward pass frees and re-allocates the same multi-megabyte activations. With glibc's
defaults, freed memory at the top of the heap is returned to the kernel and the next pass pays a
page fault (and the zeroing of a page) for every 4 KiB it touches again (what that costs is
measured in docs/performance.md). A large ``M_TOP_PAD`` makes the heap grow in
big steps and keep that much freed memory mapped, so the pages are reused. Values are unaffected.

Importing ``mask2former`` (which every way of building the model does: it registers the
model) calls it with the default size, so a model called directly, in ``train_net.py`` or by the
predictor runs with it. The setting is process-wide but changes only what glibc does with freed
memory at the top of the heap: up to the pad stays mapped for reuse instead of going back to the
kernel (untouched pages of the pad are never resident). A process that wants its memory back
sooner calls ``keep_freed_heap_memory`` with a smaller size.
"""

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_TOP_PAD = -2  # mallopt parameter number, <malloc.h>
DEFAULT_TOP_PAD_BYTES = 1 << 30


def keep_freed_heap_memory(top_pad_bytes: int = DEFAULT_TOP_PAD_BYTES) -> bool:
    """Ask glibc to keep ``top_pad_bytes`` of freed heap memory mapped (``mallopt(M_TOP_PAD)``).

    Returns True when the setting took effect, False where the C library is not glibc (the call
    is then a no-op)."""
    if top_pad_bytes < 0:
        raise ValueError(f"top_pad_bytes must be >= 0, got {top_pad_bytes}")
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        libc = None
    # only glibc has gnu_get_libc_version (musl's mallopt is a stub)
    if libc is None or not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        logger.debug("keep_freed_heap_memory: no glibc mallopt here, allocator left as it is")
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_TOP_PAD, min(top_pad_bytes, 2**31 - 1)) == 1
