"""Importing a script of the repository (tools/, demo/, datasets/) as a module: scripts are not
part of a package, and some names (with dashes) are not importable by name."""

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
