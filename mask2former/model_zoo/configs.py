"""The shipped configs, by name: their path relative to the repository's ``configs/`` folder
(``"ade20k/swin_L.yaml"``), found the same way in a source checkout, an editable install and
an installed wheel.

A wheel carries the configs inside the package, as ``mask2former/model_zoo/configs/`` (copied
there by ``setup.py`` at build time); a checkout (and an editable install, whose package is the
checkout's ``mask2former/``) reads the repository's ``configs/`` folder. ``_BASE_`` references
inside the configs are relative, so they resolve in either place.
"""

import difflib
import functools
import os
from typing import List

from ..errors import UserError

__all__ = [
    "ConfigFileNotFoundError",
    "config_name",
    "configs_root",
    "get_config_file",
    "list_configs",
    "resolve_config_file",
]

_PACKAGE_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
_CHECKOUT_CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)
# a file every configs folder of this project has: tells our checkout's configs/ from a
# "configs" folder that happens to sit next to an installed package
_MARKER = "Base-Mask2Former.yaml"


class ConfigFileNotFoundError(UserError, FileNotFoundError):
    """A config file that is neither an existing file nor the name of a shipped config."""


def _roots() -> List[str]:
    return [
        r for r in (_PACKAGE_CONFIGS, _CHECKOUT_CONFIGS) if os.path.isfile(os.path.join(r, _MARKER))
    ]


def configs_root() -> str:
    """The folder holding the shipped configs: the package's copy in an installed wheel, else
    the ``configs/`` folder of the checkout this package lives in."""
    roots = _roots()
    if roots:
        return roots[0]
    raise ConfigFileNotFoundError(
        f"no shipped configs: neither {_PACKAGE_CONFIGS} (an installed package) nor "
        f"{_CHECKOUT_CONFIGS} (a source checkout) holds {_MARKER}; reinstall mask2former "
        "from a checkout (`pip install --no-build-isolation .`)"
    )


@functools.lru_cache(maxsize=None)
def _names(root: str) -> tuple:
    names = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".yaml"):
                names.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return tuple(sorted(names))


def list_configs() -> List[str]:
    """The names of every shipped config (``_BASE_`` files included), sorted."""
    return list(_names(configs_root()))


def _close_names(name: str, names) -> List[str]:
    """Up to 3 names of ``names`` close to ``name``: those with its file name when it has no
    folder, then the closest whole names."""
    close = []
    if "/" not in name:
        close = [n for n in names if os.path.basename(n) == name]
    close += [n for n in difflib.get_close_matches(name, names, n=3, cutoff=0.6) if n not in close]
    return close[:3]


def _suggestion(name: str) -> str:
    close = _close_names(name, _names(configs_root()))
    if close:
        return "did you mean " + " or ".join(close) + "?"
    return "list them with `python -c \"from mask2former import model_zoo; print(*model_zoo.list_configs(), sep='\\n')\"`"


def _as_name(config_path: str) -> str:
    # "configs/ade20k/x.yaml", the path as the README writes it, names the same config
    name = config_path.replace(os.sep, "/")
    return name[len("configs/") :] if name.startswith("configs/") else name


def get_config_file(config_path: str) -> str:
    """The absolute path of a shipped config.

    Args:
        config_path: its path relative to ``configs/``, e.g.
            ``"ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml"`` or
            ``"ade20k/swin_L.yaml"`` (a leading ``configs/`` is accepted too).

    Raises:
        ConfigFileNotFoundError: no shipped config has that name (the message lists close ones).
    """
    name = _as_name(config_path)
    root = configs_root()
    if name not in _names(root):
        raise ConfigFileNotFoundError(
            f"{config_path}: no shipped config of that name (under {root}); {_suggestion(name)}"
        )
    return os.path.join(root, *name.split("/"))


def resolve_config_file(config_file: str) -> str:
    """What ``--config-file`` names: an existing file as given, else the shipped config of that
    name (:func:`get_config_file`).

    Raises:
        ConfigFileNotFoundError: neither exists; one line naming both places looked in.
    """
    path = os.path.expanduser(config_file)
    if os.path.isfile(path):
        return path
    name = _as_name(config_file)
    root = configs_root()
    if name in _names(root):
        return os.path.join(root, *name.split("/"))
    raise ConfigFileNotFoundError(
        f"config file {config_file} not found: it is not a file (relative to {os.getcwd()}) nor "
        f"the name of a shipped config (under {root}); {_suggestion(name)}"
    )


def config_name(config_file: str):
    """The shipped name of ``config_file`` (a path) when it is one of the shipped configs (in
    the package or in the checkout it comes from), else None."""
    path = os.path.realpath(os.path.expanduser(config_file))
    for root in _roots():
        real_root = os.path.realpath(root)
        if path.startswith(real_root + os.sep):
            name = os.path.relpath(path, real_root).replace(os.sep, "/")
            if name in _names(root):
                return name
    return None
