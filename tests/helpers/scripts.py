"""Importing a script of the repository (tools/, demo/, datasets/) as a module: scripts are not
part of a package, and some names (with dashes) are not importable by name; the command line of
tools/export_model.py."""

import importlib.util
from pathlib import Path

from helpers.paths import REPO


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
