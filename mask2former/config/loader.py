"""Reading config files without running code.

Detectron2's ``CfgNode.merge_from_file`` retries a file that ``yaml.safe_load`` refuses with
``yaml.unsafe_load``, so a config (or any ``_BASE_`` file it names) can run arbitrary Python
through tags such as ``!!python/object/apply:os.system``. Configs travel like data (with
checkpoints, in issues), so :func:`merge_config_file` reads every file of a ``_BASE_`` chain
with a safe loader instead. It accepts one Python tag, the published releases'
``!!python/object/apply:eval ["<expression>"]``, computed by
:func:`~mask2former.config.expression.evaluate_expression` (no ``eval``), and refuses every
other one with :class:`ConfigFileError` naming the file and line.

``_BASE_`` files are resolved as fvcore resolves them (relative to the including file unless
absolute or a URL; a list is merged in order, then the including file on top) and Detectron2's
config versions are upgraded as in its ``merge_from_file``.
"""

import copy
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import yaml
from detectron2.config import CfgNode
from detectron2.config import compat as config_compat
from detectron2.utils.file_io import PathManager

from ..errors import UserError
from .expression import ExpressionError, evaluate_expression

__all__ = ["ConfigFileError", "load_yaml_with_base", "merge_config_file", "read_config_file"]

logger = logging.getLogger(__name__)

BASE_KEY = "_BASE_"
_PYTHON_TAG_PREFIX = "tag:yaml.org,2002:python/"
_EVAL_TAG = _PYTHON_TAG_PREFIX + "object/apply:eval"
_EVAL_IDIOM = '!!python/object/apply:eval ["<expression>"]'


class ConfigFileError(UserError, ValueError):
    """A config file that cannot be read as a config: YAML syntax, a refused Python tag, a
    top level that is not a mapping, a ``_BASE_`` that is missing or loops."""


class _RefusedNode(yaml.MarkedYAMLError):
    """Raised inside the loader; :func:`read_config_file` turns it into a ConfigFileError."""


class _SafeConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus the published ``eval`` idiom; every other Python tag refused."""

    def construct_published_eval(self, node: yaml.Node):
        items = node.value if isinstance(node, yaml.SequenceNode) else None
        text = self.construct_object(items[0]) if items and len(items) == 1 else None
        if not isinstance(text, str):
            raise _RefusedNode(
                problem=f"!!python/object/apply:eval is accepted only as {_EVAL_IDIOM}",
                problem_mark=node.start_mark,
            )
        try:
            return evaluate_expression(text)
        except ExpressionError as e:
            raise _RefusedNode(
                problem=f"!!python/object/apply:eval [{text!r}]: {e}", problem_mark=node.start_mark
            ) from None

    def refuse_python_tag(self, suffix: str, node: yaml.Node):
        raise _RefusedNode(
            problem=(
                f"the Python tag !!python/{suffix} is refused: config files are read without "
                "running code. Write the value itself (numbers, strings, lists); the only Python "
                f"accepted is {_EVAL_IDIOM} over numbers, + - * / // %, int(), range() and list "
                "comprehensions"
            ),
            problem_mark=node.start_mark,
        )


_SafeConfigLoader.add_constructor(_EVAL_TAG, _SafeConfigLoader.construct_published_eval)
_SafeConfigLoader.add_multi_constructor(_PYTHON_TAG_PREFIX, _SafeConfigLoader.refuse_python_tag)


def _location(path: str, error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return f"{path}:{mark.line + 1}" if mark is not None else path


def read_config_file(path: str) -> Dict[str, Any]:
    """The YAML mapping of one config file (its ``_BASE_`` not followed), read safely.

    Raises:
        ConfigFileError: naming the file (and line): unreadable YAML, a refused Python tag,
            an empty file or a top level that is not a mapping.
    """
    try:
        with PathManager.open(path, "r") as f:
            data = yaml.load(f, Loader=_SafeConfigLoader)
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: config file not found") from None
    except _RefusedNode as e:
        raise ConfigFileError(f"{_location(path, e)}: {e.problem}") from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigFileError(f"{_location(path, e)}: not valid YAML: {problem}") from None
    if data is None:
        raise ConfigFileError(
            f"{path}: the file is empty; a config file is a mapping of KEY: value entries "
            "(e.g. `_BASE_: Base.yaml` and the keys it changes)"
        )
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{path}: the top level is a {type(data).__name__}; a config file is a mapping of "
            "KEY: value entries (e.g. `MODEL:` followed by indented keys)"
        )
    return data


def _resolve_base(base: str, including_file: str) -> str:
    """fvcore's rule: relative to the including file unless absolute (or ~) or a URL."""
    base = os.path.expanduser(base)
    if base.startswith(("/", "https://", "http://")):
        return base
    joined = os.path.join(os.path.dirname(including_file), base)
    return joined if "://" in joined else os.path.normpath(joined)


def _identity(path: str) -> str:
    return path if "://" in path else os.path.realpath(path)


def _merge_into(update: Dict[str, Any], into: Dict[str, Any], update_file: str) -> None:
    """fvcore's merge of a config dict into its base: nested mappings merge, values replace."""
    for key, value in update.items():
        if isinstance(value, dict) and key in into:
            if not isinstance(into[key], dict):
                raise ConfigFileError(
                    f"{update_file}: {key} is a mapping here but a single value in its _BASE_ "
                    "file(s); make both the same kind"
                )
            _merge_into(value, into[key], update_file)
        else:
            into[key] = value


def load_yaml_with_base(
    path: str,
    sources: Optional[List[Tuple[str, Dict[str, Any]]]] = None,
    _including: Tuple[str, ...] = (),
) -> Dict[str, Any]:
    """The config dict of ``path`` with its ``_BASE_`` files merged in (fvcore's
    ``CfgNode.load_yaml_with_base``, read safely). When ``sources`` is given, appends
    ``(file, that file's own mapping)`` for every file read, in order of precedence: a file
    before its bases, a later base (and its own bases) before an earlier one. The first of
    them that sets a key is where its value comes from.

    Raises:
        ConfigFileError: see :func:`read_config_file`; also for a ``_BASE_`` that is not a
            file name or list of them, names a missing file, or includes itself (a loop).
    """
    chain = _including + (_identity(path),)
    data = read_config_file(path)
    if sources is not None:
        sources.append((path, copy.deepcopy(data)))
    if BASE_KEY not in data:
        return data
    bases = data.pop(BASE_KEY)
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigFileError(
            f"{path}: {BASE_KEY} must be a file name or a list of file names, got {bases!r}"
        )
    merged: Dict[str, Any] = {}
    base_sources: List[List[Tuple[str, Dict[str, Any]]]] = []
    for base in bases:
        base_path = _resolve_base(base, path)
        if _identity(base_path) in chain:
            loop = " -> ".join([*_including_names(chain, base_path), base_path])
            raise ConfigFileError(f"{path}: {BASE_KEY} loop: {loop}")
        if "://" not in base_path and not os.path.isfile(base_path):
            raise ConfigFileError(
                f"{path}: {BASE_KEY} file {base} not found (looked for {base_path}; relative "
                "names are relative to the including file)"
            )
        base_sources.append([])
        _merge_into(load_yaml_with_base(base_path, base_sources[-1], chain), merged, base_path)
    if sources is not None:
        sources.extend(source for later in reversed(base_sources) for source in later)
    _merge_into(data, merged, path)
    return merged


def _including_names(chain: Tuple[str, ...], repeated: str) -> List[str]:
    """The files of ``chain`` from the first occurrence of ``repeated`` on (for loop messages)."""
    start = chain.index(_identity(repeated))
    return [os.path.relpath(p) if "://" not in p else p for p in chain[start:]]


def merge_config_file(
    cfg: CfgNode, path: str, sources: Optional[List[Tuple[str, Dict[str, Any]]]] = None
) -> None:
    """Detectron2's ``cfg.merge_from_file(path)`` with the files read by
    :func:`load_yaml_with_base` (``sources`` as there): a config of an older ``VERSION`` is
    upgraded the way Detectron2 does it."""
    if "://" not in path and not os.path.isfile(path):
        raise ConfigFileError(f"{path}: config file not found")
    loaded = type(cfg)(load_yaml_with_base(path, sources))
    loaded_version = loaded.get("VERSION", None)
    if loaded_version is None:
        loaded_version = config_compat.guess_version(loaded, path)
    if loaded_version > cfg.VERSION:
        raise ConfigFileError(
            f"{path}: VERSION {loaded_version} is newer than this Detectron2's config version "
            f"{cfg.VERSION}"
        )
    if loaded_version == cfg.VERSION:
        cfg.merge_from_other_cfg(loaded)
        return
    logger.warning(
        f"Loading an old v{loaded_version} config file '{path}' by automatically upgrading to "
        f"v{cfg.VERSION}."
    )
    old = config_compat.downgrade_config(cfg, to_version=loaded_version)
    old.merge_from_other_cfg(loaded)
    upgraded = config_compat.upgrade_config(old)
    cfg.clear()
    cfg.update(upgraded)
