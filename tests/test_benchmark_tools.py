"""tools/benchmark_ms_deform_attn.py and tools/benchmark_export.py run and print their tables
(at tiny sizes; the figures themselves are measured by running the tools)."""

import re

import pytest

from helpers.paths import REPO, TINY_CONFIGS
from helpers.scripts import load_script
from mask2former.layers import compiled_op_available

needs_cpu_op = pytest.mark.skipif(
    not compiled_op_available("cpu"), reason="needs the compiled mask2former._C operator"
)


def load_tool(name: str):
    return load_script(f"tools/{name}.py")


@needs_cpu_op
def test_benchmark_ms_deform_attn_prints_a_row_per_size(capsys):
    tool = load_tool("benchmark_ms_deform_attn")
    tool.main(["--device", "cpu", "--sizes", "64", "128", "--batch", "1", "--channels", "16",
               "--heads", "2", "--points", "2", "--repeats", "1", "--warmup", "0"])  # fmt: skip
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| cpu |")]
    assert [row.split("|")[2].strip() for row in rows] == ["64x64", "128x128"], out
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        ref_fwd, op_fwd, speedup = float(cells[3]), float(cells[4]), cells[5]
        assert ref_fwd > 0 and op_fwd > 0 and re.fullmatch(r"\d+\.\dx", speedup), row
        assert re.fullmatch(r"\d+\.\dx", cells[8]), row


def test_benchmark_ms_deform_attn_refuses_cuda_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    tool = load_tool("benchmark_ms_deform_attn")
    with pytest.raises(SystemExit):
        tool.main(["--device", "cuda"])


@needs_cpu_op
def test_benchmark_export_compares_the_three_runtimes(capsys):
    import torch

    tool = load_tool("benchmark_export")
    config = str(TINY_CONFIGS / "tiny_base.yaml")
    threads = torch.get_num_threads()
    try:
        assert tool.main(["--config-file", config, "--size", "64", "64", "--runs", "1",
                          "--threads", "1"]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)  # the tool sets it for the whole process
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        for name in ("PyTorch eager", "torch.export program", "onnxruntime (CPU)"):
            if line.startswith(name):
                rows[name] = line[len(name) :].split()
    assert len(rows) == 3, out
    assert float(rows["torch.export program"][-1]) < 1e-5
    assert float(rows["onnxruntime (CPU)"][-1]) < 1e-3


def test_compare_published_on_this_project_as_the_published_code(capsys):
    """The comparison tool end to end, with this checkout standing in for the published code:
    the weights file must load with strict=True and give identical float32 results."""
    tool = load_tool("compare_published")
    config = str(TINY_CONFIGS / "tiny_semantic.yaml")
    assert (
        tool.main(
            ["--published-root", str(REPO), "--config-file", config, "--size", "64", "--runs", "1"]
        )
        == 0
    )
    out = capsys.readouterr().out
    for name in (
        "ours float32",
        "ours bf16 autocast",
        "ours float32 contiguous",
        "published float32",
    ):
        assert re.search(
            rf"^\| {name} \| \d+\.\d{{3}} \| \d+\.\d\dx \| \d+ \|$", out, re.MULTILINE
        ), out
    assert (
        "ours float32 vs published: max |diff| of sem_seg 0, same class at 100.00% of pixels" in out
    )


def test_compare_published_training_step(capsys):
    """--task train: this checkout as the published code takes the same first step (same loss
    from the same weights, inputs and random points) with the same optimizer."""
    tool = load_tool("compare_published")
    config = str(TINY_CONFIGS / "tiny_semantic.yaml")
    argv = ["--published-root", str(REPO), "--config-file", config, "--task", "train"]
    assert tool.main(argv + ["--size", "64", "--runs", "1", "--skip", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "train 2x3x64x64" in out
    rows = re.findall(r"^\| (.+?) \| \d+\.\d{3} \| \d+\.\d\dx \| \d+ \|$", out, re.MULTILINE)
    assert rows == ["ours float32", "published float32"], out
    loss = re.search(r"^ours float32: first-step total loss (\S+) \(published (\S+)\)$", out, re.M)
    assert loss and loss.group(1) == loss.group(2), out
    peaks = re.search(
        r"^peak MiB by round: ours float32 (\d+); published float32 (\d+)$", out, re.M
    )
    table = dict(re.findall(r"^\| (.+?) \| \d+\.\d{3} \| \d+\.\d\dx \| (\d+) \|$", out, re.M))
    assert peaks and table == dict(zip(rows, peaks.groups())), out  # one round: its own peak


def test_benchmark_mistakes_are_one_line(monkeypatch, capsys):
    """tools/benchmark.py: --device cuda without a GPU and --accuracy without --amp are one
    line each, naming its own flags."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    tool = load_tool("benchmark")
    assert tool.cli(["--config-file", "quickstart/semantic.yaml", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err == ("benchmark.py: error: --device is 'cuda' but no CUDA device is available: pass "
                   "`--device cpu` to run on the CPU\n")  # fmt: skip
    assert tool.cli(["--config-file", "quickstart/semantic.yaml", "--accuracy"]) == 2
    assert "--accuracy compares float32 with --amp" in capsys.readouterr().err
