"""The package's layout: imports run down the data path, never back up, and the module paths
of the published releases (and of earlier versions of this project) still import."""

import ast
import importlib
from pathlib import Path

import pytest

from mask2former._compat import ALIASES

PACKAGE = Path(__file__).resolve().parents[1] / "mask2former"

# Rooms of the package from the bottom up: a module may import its own room and the rooms below.
LAYERS = [
    ["errors", "_quiet_imports", "_C", "_private_api"],
    ["layers"],
    ["data"],
    ["modeling.backbone"],
    ["modeling.pixel_decoder"],
    ["modeling.transformer_decoder"],
    ["modeling.criterion", "modeling.postprocessing"],
    ["modeling.heads"],
    ["modeling.meta_arch", "modeling.test_time_augmentation"],
    ["modeling"],
    ["evaluation", "solver"],
    ["config"],
    ["checkpoint"],
    ["model_zoo"],
    ["engine"],
    ["export", "utils"],
    ["video"],
    ["cli", "commands", "_compat"],
    [""],  # mask2former/__init__.py
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str:
    """The most specific room of LAYERS holding ``module`` (a name relative to mask2former)."""
    parts = module.split(".") if module else []
    for n in range(len(parts), -1, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    raise AssertionError(f"mask2former.{module} is in no room of LAYERS: add it")


def imported_modules(path: Path):
    """(line, module relative to mask2former) of every import of this package in ``path``."""
    package = list(path.relative_to(PACKAGE).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
            elif node.module and node.module.split(".")[0] == "mask2former":
                base = []
                node.module = node.module[len("mask2former.") :] if "." in node.module else None
            else:
                continue
            if node.module is None:  # from . import a, b: each is a module
                names = [".".join(base + [alias.name]) for alias in node.names]
            else:
                names = [".".join(base + [node.module])]
            for name in names:
                yield node.lineno, name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mask2former."):
                    yield node.lineno, alias.name[len("mask2former.") :]


def test_imports_never_run_back_up():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        module = module[: -len(".__init__")] if module.endswith(".__init__") else module
        module = "" if module == "__init__" else module
        here = room_of(module)
        for line, target in imported_modules(path):
            there = room_of(target)
            if RANK[there] > RANK[here]:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} ({here}) imports {target} ({there})"
                )
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_old_module_paths_import_the_current_modules(old):
    assert importlib.import_module(old) is importlib.import_module(ALIASES[old])


def test_every_module_belongs_to_a_room():
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        room_of(module.removesuffix(".__init__").removesuffix("__init__"))
