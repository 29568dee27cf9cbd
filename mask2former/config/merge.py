"""Merging config files and command-line overrides into a config: ``merge_config(cfg, file,
opts)`` reads the file safely (:mod:`.loader`), names the file (or the command line) that sets
an unknown key, registers the datasets that DATASETS.TRAIN / DATASETS.TEST name by a file
(categories files and dataset descriptions, see :mod:`.dataset_files`), makes the model follow
a described dataset and refuses values that cannot work (:mod:`.checks`)."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from detectron2.config import CfgNode as CN

from ..errors import UserError
from .checks import ConfigValueError, validate_config
from .dataset_files import follow_described_datasets, register_dataset_files
from .loader import ConfigFileError, merge_config_file

__all__ = ["ConfigFileError", "ConfigKeyError", "ConfigValueError", "merge_config"]


class ConfigKeyError(UserError, KeyError):
    """A config file or command-line override sets a key that the config does not have."""


_UNKNOWN_KEY_PREFIXES = ("Non-existent config key: ", "Non-existent key: ")


def _unknown_key(error: BaseException) -> Optional[str]:
    """The dotted key of yacs' "Non-existent (config) key: A.B" errors, else None."""
    message = str(error.args[0]) if error.args else ""
    for prefix in _UNKNOWN_KEY_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return None


def _defines(data: dict, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _first_file_index(sources: List[Tuple[str, Dict[str, Any]]], key: str) -> Optional[int]:
    """The index of the first of ``sources`` ((file, its own mapping), in order of precedence:
    see :func:`~mask2former.config.loader.load_yaml_with_base`) whose mapping sets the dotted
    ``key``: the file its value comes from."""
    return next((i for i, (_, data) in enumerate(sources) if _defines(data, key)), None)


def _first_file_setting(sources: List[Tuple[str, Dict[str, Any]]], key: str) -> Optional[str]:
    index = _first_file_index(sources, key)
    return None if index is None else sources[index][0]


def merge_config(cfg: CN, config_file: str, opts: Sequence[str] = ()) -> CN:
    """Merges ``config_file`` (read safely, with its ``_BASE_`` chain: see
    :mod:`mask2former.config.loader`) and then ``opts`` (the KEY VALUE pairs of a command line)
    into ``cfg``, in place, and checks the values that cannot work
    (:func:`~mask2former.config.checks.validate_config`); returns ``cfg``.

    Every entry point reads its config through this function. Errors name the file or key:
    :class:`ConfigFileError` (unreadable file, refused Python tag, ``_BASE_`` loop, ...),
    :class:`ConfigKeyError` for a key that the config does not have (with the YAML file that
    holds it, ``config_file`` or one of its ``_BASE_`` files, or the command line) and
    :class:`ConfigValueError` for a value that cannot work (with where it was set).

    Dataset names ending in ``.json`` (categories files) and ``.yaml:<split>`` (splits of
    dataset descriptions) are registered under that name, a relative path being relative to
    the YAML file that sets the list (or to the working directory when the command line sets
    it); MODEL.SEM_SEG_HEAD.NUM_CLASSES follows a described dataset (see
    :mod:`mask2former.config.dataset_files`).
    """
    sources: List[Tuple[str, Dict[str, Any]]] = []
    try:
        merge_config_file(cfg, config_file, sources)
    except KeyError as e:
        key = _unknown_key(e)
        if key is None:
            raise
        source = _first_file_setting(sources, key) or f"{config_file} (or one of its _BASE_ files)"
        raise ConfigKeyError(
            f"{source}: unknown config key {key}. Check its spelling against "
            "mask2former/config/defaults.py and Detectron2's defaults (detectron2/config/defaults.py)."
        ) from None
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError) as e:
        key = _unknown_key(e)
        if key is None:
            raise
        raise ConfigKeyError(
            f"command-line override {key}: unknown config key (after --config-file "
            f"{config_file}). Check its spelling against mask2former/config/defaults.py and Detectron2's "
            "defaults (detectron2/config/defaults.py)."
        ) from None
    from_command_line = set(list(opts)[0::2])

    def folder_of(key: str) -> str:
        if key in from_command_line:
            return os.getcwd()
        return os.path.dirname(os.path.abspath(_first_file_setting(sources, key) or sources[0][0]))

    def rank(key: str) -> int:
        if key in from_command_line:
            return 0
        index = _first_file_index(sources, key)
        return len(sources) + 1 if index is None else index + 1

    def where(key: str) -> str:
        if key in from_command_line:
            return "on the command line"
        file = _first_file_setting(sources, key)
        return f"in {file}" if file else "by default"

    register_dataset_files(cfg, folder_of)
    follow_described_datasets(cfg, rank, where)
    validate_config(cfg, where)
    return cfg
