"""Importing a script of the repository (tools/, demo/, datasets/) as a module: scripts are not
part of a package, and some names (with dashes) are not importable by name; the command line of
tools/export_model.py; running a size-sweep benchmark script."""

import importlib.util
from pathlib import Path

from helpers.paths import REPO, TINY_CONFIGS


def load_script(path, name: str = ""):
    """The script at ``path`` (relative to the repository root, or absolute) as a fresh module
    named ``name`` (by default its file name, dashes as underscores)."""
    path = REPO / path
    spec = importlib.util.spec_from_file_location(name or Path(path).stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def onnx_export_args(config, output) -> list:
    """tools/export_model.py's arguments exporting the model of ``config`` to the ONNX file
    ``output`` at a fixed 64x64 input; the weights' flag is the caller's."""
    return [
        "--config-file",
        str(config),
        "--format",
        "onnx",
        "--output",
        str(output),
        "--size",
        "64",
        "64",
    ]


def size_sweep_rows(capsys, script: str, options, row_start: str):
    """Runs a size-sweep benchmark (``script``, e.g. tools/benchmark_sliding_window.py) on the
    tiny semantic config with one thread and its own ``options``; returns its output and the
    lines of its table that start with ``row_start``."""
    config = str(TINY_CONFIGS / "tiny_semantic.yaml")
    assert load_script(script).main(["--config-file", config, "--threads", "1", *options]) == 0
    out = capsys.readouterr().out
    return out, [line for line in out.splitlines() if line.startswith(row_start)]
