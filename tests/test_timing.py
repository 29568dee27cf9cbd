"""mask2former.utils.timing, the benchmark scripts' one timing helper: warm-up calls untimed,
each timed call measured on its own, CUDA work waited for."""

import pytest
import torch

from mask2former.utils import timing


def test_warmup_is_untimed_and_each_call_is_timed(monkeypatch):
    ticks = iter([10.0, 10.5, 20.0, 21.0, 30.0, 30.25])  # start and end of the 3 timed calls
    monkeypatch.setattr(timing, "clock", lambda device=None: next(ticks))
    calls = []

    def fn():
        calls.append(None)
        return len(calls)

    result = timing.time_calls(fn, repeats=3, warmup=2)
    assert len(calls) == 5 and result.output == 5
    assert list(result.seconds) == [0.5, 1.0, 0.25]
    assert (result.median, result.min, result.max) == (0.5, 0.25, 1.0)
    assert len(result.cpu_seconds) == 3 and all(s >= 0 for s in result.cpu_seconds)


def test_clock_waits_for_cuda_work_only(monkeypatch):
    synchronized = []
    monkeypatch.setattr(torch.cuda, "synchronize", synchronized.append)
    timing.clock("cpu")
    timing.clock(None)
    assert synchronized == []
    timing.clock("cuda:1")
    timing.clock(torch.device("cuda", 0))
    assert synchronized == ["cuda:1", torch.device("cuda", 0)]


def test_time_calls_passes_its_device_to_the_clock(monkeypatch):
    devices = []
    monkeypatch.setattr(timing, "clock", lambda device=None: devices.append(device) or 0.0)
    timing.time_calls(lambda: None, repeats=2, warmup=0, device="cuda")
    assert devices == ["cuda"] * 4


def test_at_least_one_repeat():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        timing.time_calls(lambda: None, repeats=0)
