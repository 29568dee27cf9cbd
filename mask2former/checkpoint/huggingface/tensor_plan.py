"""Which tensor of a transformers checkpoint becomes which tensor of this project's state_dict,
and the two conversions that follow from it, with every tensor accounted for.

A :class:`TensorPlan` lists one rule per tensor of this project's model:

- :class:`Copy`: the same values under another name;
- :class:`Concat`: several transformers tensors (query, key, value projections) concatenated
  along dim 0 into one (``qkv`` / ``in_proj_weight``);
- :class:`Derived`: a constant that follows from the config (Swin's relative position index);
  transformers files may hold it (then it must equal the derived value) or not;

plus :class:`TransformersOnly` tensors, which transformers' model holds and this project's has no
use for (the final LayerNorm of its Swin encoder, BatchNorm step counters). Their values are
carried next to the converted weights so that converting back reproduces them; without carried
values the converter writes the value transformers itself initializes them to.

Converting in either direction fails, naming the tensors, when the source has a tensor no rule
consumes or a rule finds its source tensor missing.
"""

import json
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from .errors import ConversionError

__all__ = [
    "Copy",
    "Concat",
    "Derived",
    "TransformersOnly",
    "TensorPlan",
    "Converted",
    "carried_to_json",
    "carried_from_json",
    "copies",
    "attention_from_qkv",
    "name_list",
]

StateDict = Dict[str, torch.Tensor]


@dataclass(frozen=True)
class Copy:
    ours: str
    theirs: str


def copies(ours: str, theirs: str, params: Sequence[str] = ("weight", "bias")) -> List[Copy]:
    """Copy rules for the parameters ``params`` of module ``ours`` (here) / ``theirs``."""
    return [Copy(f"{ours}.{p}", f"{theirs}.{p}") for p in params]


@dataclass(frozen=True)
class Concat:
    """``ours`` is ``torch.cat(theirs, 0)`` of equally shaped tensors."""

    ours: str
    theirs: Tuple[str, ...]


def attention_from_qkv(ours: str, theirs: str) -> list:
    """Rules for a ``torch.nn.MultiheadAttention``-style module ``ours`` (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``) from one with separate ``{q,k,v}_proj`` and ``out_proj``."""
    return [
        Concat(f"{ours}.in_proj_{p}", tuple(f"{theirs}.{n}_proj.{p}" for n in "qkv"))
        for p in ("weight", "bias")
    ] + copies(f"{ours}.out_proj", f"{theirs}.out_proj")


@dataclass(frozen=True)
class Derived:
    """``ours`` always holds ``value()``; transformers files hold it under ``theirs`` or not,
    and files written for transformers hold it when ``written``."""

    ours: str
    theirs: str
    value: Callable[[], torch.Tensor]
    written: bool


@dataclass(frozen=True)
class TransformersOnly:
    """A tensor of transformers' model without a counterpart here; ``default()`` is the value
    transformers initializes it to."""

    theirs: str
    default: Callable[[], torch.Tensor]


@dataclass
class Converted:
    """The result of one conversion: the tensors, and what was not a plain copy."""

    tensors: StateDict
    carried: StateDict = field(default_factory=dict)  # transformers-only tensors kept aside
    derived: List[str] = field(default_factory=list)  # ours, filled from the config
    defaults: List[str] = field(default_factory=list)  # theirs, written at their initial value


def name_list(names: Sequence[str], shown: int = 8) -> str:
    """The first ``shown`` of the sorted ``names``, and how many more there are."""
    names = sorted(names)
    text = ", ".join(names[:shown])
    return text + (f" (and {len(names) - shown} more)" if len(names) > shown else "")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.numel() == b.numel() and torch.equal(a.reshape(b.shape).to(b.dtype), b)


class TensorPlan:
    """The rules of one architecture (see the module docstring) and the two conversions."""

    def __init__(self, rules: Sequence, transformers_only: Sequence[TransformersOnly] = ()):
        self.rules = list(rules)
        self.transformers_only = list(transformers_only)
        ours = [r.ours for r in self.rules]
        theirs = [t for r in self.rules for t in _theirs(r)] + [
            t.theirs for t in self.transformers_only
        ]
        for kind, names in (("project", ours), ("transformers", theirs)):
            if len(set(names)) != len(names):
                raise AssertionError(f"tensor plan names a {kind} tensor twice")

    def ours_names(self) -> List[str]:
        return [r.ours for r in self.rules]

    def to_ours(self, theirs: StateDict, source: str) -> Converted:
        """This project's state_dict from a transformers one (names as transformers writes
        them, see :mod:`.names`)."""
        pending = dict(theirs)
        result = Converted({})
        missing = []
        for rule in self.rules:
            if isinstance(rule, Derived):
                value = rule.value()
                if rule.theirs in pending and not _same(pending.pop(rule.theirs), value):
                    raise ConversionError(
                        f"{source}: {rule.theirs} differs from the value its config implies; "
                        "the checkpoint does not match its config.json"
                    )
                result.tensors[rule.ours] = value
                result.derived.append(rule.ours)
                continue
            names = _theirs(rule)
            absent = [n for n in names if n not in pending]
            if absent:
                missing.extend(absent)
                continue
            parts = [pending.pop(n) for n in names]
            if isinstance(rule, Concat):
                if len({p.shape for p in parts}) != 1:
                    raise ConversionError(
                        f"{source}: {', '.join(names)} differ in shape "
                        f"({[tuple(p.shape) for p in parts]}); expected equal shapes"
                    )
                result.tensors[rule.ours] = torch.cat(parts, 0)
            else:
                result.tensors[rule.ours] = parts[0]
        for extra in self.transformers_only:
            if extra.theirs in pending:
                result.carried[extra.theirs] = pending.pop(extra.theirs)
        _check_accounted(source, "transformers", missing, pending)
        return result

    def to_theirs(self, ours: StateDict, carried: StateDict, source: str) -> Converted:
        """A transformers state_dict from this project's one; ``carried`` holds the
        transformers-only tensors kept by :meth:`to_ours` (others get their default)."""
        pending = dict(ours)
        result = Converted({})
        missing = []
        for rule in self.rules:
            if rule.ours not in pending:
                missing.append(rule.ours)
                continue
            tensor = pending.pop(rule.ours)
            if isinstance(rule, Derived):
                if not _same(tensor, rule.value()):
                    raise ConversionError(
                        f"{source}: {rule.ours} differs from the value its config implies; "
                        "the weights do not match the config"
                    )
                if rule.written:
                    result.tensors[rule.theirs] = tensor
            elif isinstance(rule, Concat):
                if tensor.shape[0] % len(rule.theirs):
                    raise ConversionError(
                        f"{source}: {rule.ours} has {tensor.shape[0]} rows, not a multiple of "
                        f"{len(rule.theirs)}"
                    )
                for name, part in zip(rule.theirs, tensor.chunk(len(rule.theirs), 0)):
                    result.tensors[name] = part.clone()
            else:
                result.tensors[rule.theirs] = tensor
        for extra in self.transformers_only:
            default = extra.default()
            value = carried.get(extra.theirs)
            if value is None or value.shape != default.shape:
                result.defaults.append(extra.theirs)
                value = default
            result.tensors[extra.theirs] = value
        _check_accounted(source, "project", missing, pending)
        return result


def _theirs(rule) -> Tuple[str, ...]:
    if isinstance(rule, Concat):
        return rule.theirs
    return (rule.theirs,)


def _check_accounted(source: str, kind: str, missing: List[str], unused: StateDict) -> None:
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} tensors that the config implies are missing: {name_list(missing)}"
        )
    if unused:
        problems.append(
            f"{len(unused)} tensors have no counterpart in the other model: "
            f"{name_list(list(unused))}"
        )
    if problems:
        raise ConversionError(
            f"{source} ({kind} layout): "
            + "; ".join(problems)
            + ". The weights do not match the architecture their config describes."
        )


def carried_to_json(carried: StateDict) -> str:
    """The transformers-only tensors as JSON text (exact: float values of any precision are
    exact as Python floats), for a checkpoint's metadata."""
    return json.dumps(
        {
            name: {
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "values": t.flatten().tolist(),
            }
            for name, t in sorted(carried.items())
        }
    )


def carried_from_json(text: str) -> StateDict:
    """Inverse of :func:`carried_to_json`."""
    return {
        name: torch.tensor(entry["values"], dtype=getattr(torch, entry["dtype"])).reshape(
            entry["shape"]
        )
        for name, entry in json.loads(text).items()
    }
