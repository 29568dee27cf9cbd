"""The trained checkpoints of the two published model zoos, by config name.

``checkpoints.json`` (next to this file) holds, for every shipped config of the Mask2Former and
MaskFormer releases that has a published checkpoint, the facts of that release's MODEL_ZOO.md:
the URL of the weights, the release, dataset, task, backbone, schedule, metrics and model id
(its "source" entry names the commits they were read from, "note" entries the corrections to
evident typos of those pages). The short names (``"ade20k/swin_L.yaml"``), whose file is only a
``_BASE_`` line, have the checkpoint of the config they point at.
"""

import functools
import json
import os
from typing import Optional

import yaml

from ..errors import UserError
from .configs import _as_name, _close_names, get_config_file

__all__ = ["NoPublishedCheckpointError", "checkpoint_table", "get_checkpoint", "get_checkpoint_url"]

_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints.json")


class NoPublishedCheckpointError(UserError, KeyError):
    """A config that no published model zoo has trained weights for."""


@functools.lru_cache(maxsize=None)
def _table() -> dict:
    with open(_TABLE, encoding="utf-8") as f:
        return json.load(f)["checkpoints"]


def checkpoint_table() -> dict:
    """``{config name: entry}`` for every published checkpoint (a copy)."""
    return json.loads(json.dumps(_table()))


def _target(name: str) -> Optional[str]:
    """The config name whose checkpoint ``name`` has: itself, or the one its ``_BASE_`` names
    when the file is nothing but that line (a short name)."""
    if name in _table():
        return name
    with open(get_config_file(name), encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    base = data.get("_BASE_")
    if set(data) != {"_BASE_"} or not isinstance(base, str):
        return None
    return _target(os.path.normpath(os.path.join(os.path.dirname(name), base)).replace(os.sep, "/"))


def get_checkpoint(config_path: str) -> Optional[dict]:
    """The published checkpoint of a shipped config: its entry of ``checkpoints.json`` (keys
    "url", "release", "dataset", "task", "backbone", "schedule", "metrics", "model_id", ...)
    plus "config", the name of the config it was trained with; None when no model zoo has one.

    Raises:
        ConfigFileNotFoundError: ``config_path`` names no shipped config.
    """
    target = _target(_as_name(config_path))
    if target is None:
        return None
    return dict(json.loads(json.dumps(_table()[target])), config=target)


def get_checkpoint_url(config_path: str) -> str:
    """The URL of the trained weights that the model zoo published for a shipped config,
    e.g. ``get_checkpoint_url("coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml")``.

    Raises:
        ConfigFileNotFoundError: ``config_path`` names no shipped config.
        NoPublishedCheckpointError: it has no published checkpoint.
    """
    entry = get_checkpoint(config_path)
    if entry is None:
        close = _close_names(_as_name(config_path), sorted(_table()))
        hint = ("; configs with one: " + ", ".join(close)) if close else ""
        raise NoPublishedCheckpointError(
            f"{config_path}: no published checkpoint was trained with this config{hint}"
        )
    return entry["url"]
