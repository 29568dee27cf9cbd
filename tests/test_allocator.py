"""keep_freed_heap_memory: glibc's M_TOP_PAD through mallopt, a no-op elsewhere."""

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from mask2former.utils.allocator import keep_freed_heap_memory


def _is_glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "gnu_get_libc_version")
    except (OSError, TypeError):
        return False


def test_takes_effect_on_glibc():
    # in a child process, so this test run's allocator stays as it is
    code = "from mask2former.utils.allocator import keep_freed_heap_memory as k; print(k(1 << 26))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(_is_glibc())


def test_rejects_negative_sizes():
    with pytest.raises(ValueError, match="top_pad_bytes"):
        keep_freed_heap_memory(-1)


def test_no_glibc_is_a_no_op(monkeypatch):
    def no_libc(name):
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert keep_freed_heap_memory() is False
