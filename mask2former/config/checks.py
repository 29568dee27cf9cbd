"""Config values that cannot work, refused before any work starts.

Without these checks a zero or negative size fails deep inside the model or the data pipeline
(reshape, division or stride errors), a negative MIN_SIZE_TEST only after training has
finished, and a MAX_ITER below 1 "trains" nothing and exits successfully.
:func:`validate_config` (called by :func:`mask2former.config.merge_config`, through which
every entry point reads its config) raises :class:`ConfigValueError` for the first such value,
naming the key, the value and where it was set.
"""

from typing import Callable, List, Optional, Tuple

from detectron2.config import CfgNode

from ..errors import UserError

__all__ = ["ConfigValueError", "validate_config"]


class ConfigValueError(UserError, ValueError):
    """A config value that cannot work (e.g. 0 queries, a negative size)."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer_at_least(minimum: int) -> Tuple[Callable, str]:
    return lambda v: _integer(v) and v >= minimum, f"an integer >= {minimum}"


def _sizes_at_least(minimum: int) -> Tuple[Callable, str]:
    """An integer or a non-empty list / tuple of integers, each >= minimum."""

    def check(value) -> bool:
        values = value if isinstance(value, (list, tuple)) else [value]
        return len(values) > 0 and all(_integer(v) and v >= minimum for v in values)

    return check, f"an integer >= {minimum} or a non-empty list of them"


# key -> (check, what a valid value is)
_CHECKS = {
    "MODEL.SEM_SEG_HEAD.NUM_CLASSES": _integer_at_least(1),
    "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES": _integer_at_least(1),
    "MODEL.MASK_FORMER.HIDDEN_DIM": _integer_at_least(1),
    "MODEL.MASK_FORMER.NHEADS": _integer_at_least(1),
    "MODEL.MASK_FORMER.DEC_LAYERS": _integer_at_least(1),
    # 0 means "no resize" for Detectron2's ResizeShortestEdge
    "INPUT.MIN_SIZE_TRAIN": _sizes_at_least(0),
    "INPUT.MAX_SIZE_TRAIN": _integer_at_least(1),
    "INPUT.MIN_SIZE_TEST": _integer_at_least(0),
    "INPUT.MAX_SIZE_TEST": _integer_at_least(1),
    "INPUT.IMAGE_SIZE": _integer_at_least(1),
    "SOLVER.MAX_ITER": _integer_at_least(1),
    "SOLVER.IMS_PER_BATCH": _integer_at_least(1),
    "SOLVER.CHECKPOINT_PERIOD": _integer_at_least(1),
    "TEST.EVAL_PERIOD": _integer_at_least(0),
}

# INPUT.CROP.TYPE -> (check of each of the two INPUT.CROP.SIZE values, what they must be)
_CROP_SIZE_RULES = {
    "relative": (lambda v: _number(v) and 0 < v <= 1, "fractions in (0, 1]"),
    "relative_range": (lambda v: _number(v) and 0 < v <= 1, "fractions in (0, 1]"),
    "absolute": (lambda v: _integer(v) and v >= 1, "integers >= 1 (pixels)"),
    "absolute_range": (lambda v: _integer(v) and v >= 1, "integers >= 1 (pixels)"),
}


def _get(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _problems(cfg: CfgNode) -> List[Tuple[str, str]]:
    """(key, what its value must be) for each value of ``cfg`` that cannot work."""
    problems = [
        (key, expected) for key, (check, expected) in _CHECKS.items() if not check(_get(cfg, key))
    ]
    mask_former = cfg.MODEL.MASK_FORMER
    if not problems and mask_former.HIDDEN_DIM % mask_former.NHEADS:
        problems.append(
            (
                "MODEL.MASK_FORMER.HIDDEN_DIM",
                f"a multiple of MODEL.MASK_FORMER.NHEADS ({mask_former.NHEADS})",
            )
        )
    crop = cfg.INPUT.CROP
    size = list(crop.SIZE) if isinstance(crop.SIZE, (list, tuple)) else None
    if size is None or len(size) != 2 or not all(_number(v) and v > 0 for v in size):
        problems.append(("INPUT.CROP.SIZE", "two positive numbers"))
    elif crop.ENABLED:
        if crop.TYPE not in _CROP_SIZE_RULES:
            problems.append(("INPUT.CROP.TYPE", f"one of {sorted(_CROP_SIZE_RULES)}"))
        else:
            check, expected = _CROP_SIZE_RULES[crop.TYPE]
            if not all(check(v) for v in size):
                problems.append(("INPUT.CROP.SIZE", f"{expected} for INPUT.CROP.TYPE {crop.TYPE}"))
    return problems


def validate_config(cfg: CfgNode, where: Optional[Callable[[str], str]] = None) -> None:
    """Raises :class:`ConfigValueError` for the first value of ``cfg`` that cannot work.

    Args:
        cfg: a config with the keys of ``add_maskformer2_config``.
        where: maps a dotted key to where it was set ("in configs/x.yaml", "on the command
            line"), for the message.
    """
    problems = _problems(cfg)
    if problems:
        key, expected = problems[0]
        source = f" ({where(key)})" if where else ""
        raise ConfigValueError(f"{key} = {_get(cfg, key)!r}{source} must be {expected}.")
