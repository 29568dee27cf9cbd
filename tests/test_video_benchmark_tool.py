"""tools/benchmark_video_memory.py: one measurement in process, and the table with the budget
rule (the figures of docs/video.md are measured by running the tool)."""

import json
import subprocess

import pytest

from helpers.scripts import load_script
from helpers.video import QUICKSTART_VIDEO


@pytest.fixture(scope="module")
def tool():
    return load_script("tools/benchmark_video_memory.py")


@pytest.mark.parametrize("clip", [("0", "0"), ("2", "1")])
def test_one_measurement(tool, clip):
    args = tool.parse_args(
        ["--config-file", QUICKSTART_VIDEO, "--size", "48", "64", "--child", "3", *clip]
    )
    result = tool.measure(args)
    assert result["peak_mb"] > 0 and result["held_mb"] > 100 and result["seconds"] > 0


def test_table_skips_longer_videos_past_the_budget(tool, monkeypatch, capsys):
    runs = []

    def fake_run(command, **kwargs):
        length, clip_length = (
            int(command[command.index("--child") + 1]),
            int(command[command.index("--child") + 2]),
        )
        runs.append((length, clip_length))
        peak = 300.0 * length if clip_length == 0 else 200.0 + length
        return subprocess.CompletedProcess(
            command, 0, json.dumps({"peak_mb": peak, "held_mb": 900.0, "seconds": 1.0}), ""
        )

    monkeypatch.setattr(tool.subprocess, "run", fake_run)
    assert (
        tool.main(
            [
                "--config-file",
                QUICKSTART_VIDEO,
                "--lengths",
                "2",
                "4",
                "8",
                "--size",
                "10",
                "20",
                "--clip-length",
                "2",
                "--clip-overlap",
                "0",
                "--budget-gb",
                "1",
            ]
        )
        == 0
    )
    assert runs == [(2, 0), (4, 0), (2, 2), (4, 2), (8, 2)]  # one pass: 1200 MB at 4 frames
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]
    assert rows == [
        "| 2 | 600 (1 s) | 202 (1 s) | 0 | 0 |",
        "| 4 | 1200 (1 s) | 204 (1 s) | 0 | 0 |",
        "| 8 | over budget | 208 (1 s) | 0 | 0 |",
    ]
