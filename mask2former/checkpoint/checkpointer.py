"""Detectron2's checkpointer extended with the formats of :mod:`.formats` (``.safetensors``
without pickle, ``.pkl`` with an allow-list, ``.pth`` with ``weights_only``) and a clear report
of what a checkpoint did and did not provide (:class:`LoadReport`)."""

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, urlparse

from detectron2.checkpoint import DetectionCheckpointer

from .._private_api import clear_checkpoint_url
from ..errors import UserError
from .class_head import class_count_change
from .formats import (
    SAFETENSORS_SUFFIX,
    CheckpointReadError,
    read_checkpoint,
    read_safetensors,
    read_torch_file,
    read_weights_pickle,
)


class UntrainedModelError(UserError, ValueError):
    """Weights that leave the backbone or the segmentation head (partly) untrained."""


def _counted(name: str) -> bool:
    """BatchNorm's ``num_batches_tracked`` is no weight: PyTorch fills it in when a checkpoint
    lacks it, so counting it would make a file without a single matching tensor look partly
    loaded."""
    return not name.endswith("num_batches_tracked")


# The parts of a model whose weights decide its outputs: an untrained one makes them noise.
TRAINED_PARTS = ("backbone", "sem_seg_head")


@dataclass
class LoadReport:
    """What one ``load`` did: model tensors that got values, model tensors left at their
    initialization (``missing``), checkpoint tensors the model has no place for
    (``unexpected``), and tensors skipped because the shapes differ. Parameters and buffers
    only: ``num_batches_tracked`` counters are left out."""

    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    incorrect_shapes: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(
        default_factory=list
    )

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.incorrect_shapes)

    def summary(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.incorrect_shapes)
        lines = [f"Loaded {len(self.loaded)} of {total} model tensors from {self.source}."]
        if self.missing:
            lines.append(
                f"{len(self.missing)} model tensors are not in the checkpoint and keep their "
                f"initialization: {_count_by_module(self.missing)}"
            )
        if self.unexpected:
            lines.append(
                f"{len(self.unexpected)} checkpoint tensors are not used by the model: "
                f"{_count_by_module(self.unexpected)}"
            )
        shown = 10
        for name, in_checkpoint, in_model in self.incorrect_shapes[:shown]:
            lines.append(
                f"Skipped {name}: shape {in_checkpoint} in the checkpoint, {in_model} in the model."
            )
        if len(self.incorrect_shapes) > shown:
            lines.append(
                f"... and {len(self.incorrect_shapes) - shown} more tensors skipped for their shapes."
            )
        return "\n".join(lines)

    def untrained(self, part: str) -> str:
        """ "" when every tensor of the model's ``part`` (e.g. "backbone") was loaded, else what
        was not: "sem_seg_head: 12 of 40 tensors not in the checkpoint, 1 of another shape (e.g.
        sem_seg_head.predictor.class_embed.weight: (151, 256) in the checkpoint, (8, 256) in
        the model)"."""
        prefix = part + "."
        missing = [n for n in self.missing if n.startswith(prefix)]
        skipped = [s for s in self.incorrect_shapes if s[0].startswith(prefix)]
        if not missing and not skipped:
            return ""
        total = len(missing) + len(skipped) + sum(n.startswith(prefix) for n in self.loaded)
        details = []
        if missing:
            details.append(f"{len(missing)} of {total} tensors not in the checkpoint")
        if skipped:
            name, in_checkpoint, in_model = skipped[0]
            details.append(
                f"{len(skipped)} of {total} of another shape (e.g. {name}: {in_checkpoint} in the "
                f"checkpoint, {in_model} in the model)"
            )
        return f"{part}: " + ", ".join(details)

    def require_trained(self) -> None:
        """Raises :class:`UntrainedModelError` unless the backbone and the segmentation head
        were loaded completely: a model partly left at its initialization predicts noise."""
        problems = [p for p in (self.untrained(part) for part in TRAINED_PARTS) if p]
        if problems:
            raise UntrainedModelError(
                f"{self.source} does not hold trained weights for this model: "
                f"{'; '.join(problems)}. Its outputs would be an untrained network's. Pass the "
                "trained weights of this config as MODEL.WEIGHTS, or --random-weights to run an "
                "untrained model on purpose (tests, benchmarks)."
            )


def _count_by_module(names: List[str]) -> str:
    """'backbone (3), sem_seg_head.predictor (2)': counts per module, two levels deep."""
    counts = Counter(".".join(n.split(".")[:2]) if n.count(".") >= 2 else n for n in names)
    return ", ".join(f"{module} ({count})" for module, count in sorted(counts.items()))


class MaskFormerCheckpointer(DetectionCheckpointer):
    """Detectron2's checkpointer; every entry point of this project loads weights through it.

    Nothing it reads can run code: ``.pkl`` files are unpickled with an allow-list
    (:func:`read_weights_pickle`), ``.pth`` and other ``torch.save`` files with
    ``weights_only=True`` and their checksum verified (:func:`read_torch_file`). In addition
    to Detectron2's formats, ``load`` accepts ``.safetensors`` files (read without pickle;
    ``matching_heuristics`` comes from the file's metadata or from a
    ``?matching_heuristics=True`` suffix, as for ``.pth``). After each load, ``last_report``
    holds a :class:`LoadReport` and its summary is logged before Detectron2's detailed lists.

    ``resume_or_load(..., resume=True)`` falls back to the newest checkpoint of ``save_dir``
    that can be read when the one named by ``last_checkpoint`` cannot (truncated, corrupt),
    and says so in one log line.
    """

    def __init__(self, model, save_dir="", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.last_report = None
        self._source = None
        self._query: Dict[str, List[str]] = {}  # of the path being loaded ("?key=value")

    def load(self, path, *args, **kwargs):
        self._query = parse_qs(urlparse(path).query) if path else {}
        try:
            return super().load(path, *args, **kwargs)
        finally:
            self._query = {}
            clear_checkpoint_url(self)

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        last = self.get_checkpoint_file()
        try:
            if not os.path.isfile(last):
                raise CheckpointReadError(f"{last}: named by last_checkpoint but not found")
            return self.load(last)
        except CheckpointReadError as error:
            others = sorted(
                (
                    f
                    for f in self.get_all_checkpoint_files()
                    if os.path.abspath(f) != os.path.abspath(last)
                ),
                key=lambda f: (os.path.getmtime(f), f),
                reverse=True,
            )
            for candidate in others:
                try:
                    extra = self.load(candidate)
                except CheckpointReadError:
                    continue
                self.logger.warning(
                    f"--resume: {error}; resumed from {candidate} instead, the newest "
                    "checkpoint of the folder that loads"
                )
                return extra
            raise CheckpointReadError(
                f"--resume: {error}; no other checkpoint in {self.save_dir} loads either"
            ) from None

    def _load_file(self, filename):
        self._source = filename
        if filename.endswith(".pkl"):
            checkpoint = read_weights_pickle(filename)
            self.logger.info(f"Reading a file from '{checkpoint['__author__']}'")
            return checkpoint
        if filename.endswith(".pyth"):
            # pycls weights, converted as Detectron2 does (which reads them without weights_only)
            data = read_torch_file(filename)
            if not isinstance(data, dict) or "model_state" not in data:
                raise CheckpointReadError(f"{filename}: a .pyth (pycls) file needs 'model_state'")
            model = {k: v for k, v in data["model_state"].items() if _counted(k)}
            return {"model": model, "__author__": "pycls", "matching_heuristics": True}
        if not filename.endswith(SAFETENSORS_SUFFIX):
            return super()._load_file(filename)  # reads through _torch_load
        checkpoint = read_safetensors(filename)
        query = dict(self._query)
        if query.pop("matching_heuristics", ["False"]) == ["True"]:
            checkpoint["matching_heuristics"] = True
        if query:
            raise ValueError(f"{filename}: unsupported query parameters {sorted(query)}")
        checkpoint["matching_heuristics"] = bool(checkpoint.get("matching_heuristics", False))
        return checkpoint

    def _torch_load(self, f):
        return read_checkpoint(f)

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        skipped = {name for name, _, _ in incompatible.incorrect_shapes}
        not_loaded = set(incompatible.missing_keys) | skipped
        self.last_report = LoadReport(
            source=self._source or "<checkpoint>",
            loaded=[k for k in self.model.state_dict() if k not in not_loaded and _counted(k)],
            # a tensor skipped for its shape is also missing: report it once, as skipped
            missing=[k for k in incompatible.missing_keys if k not in skipped and _counted(k)],
            unexpected=[k for k in incompatible.unexpected_keys if _counted(k)],
            incorrect_shapes=[s for s in incompatible.incorrect_shapes if _counted(s[0])],
        )
        return incompatible

    def _log_incompatible_keys(self, incompatible) -> None:
        report = self.last_report
        fine_tuning = report is not None and class_count_change(report, self.model)
        if fine_tuning:  # one line instead of Detectron2's warning per tensor
            self.logger.info(fine_tuning)
            return
        if report is not None:
            (self.logger.info if report.complete else self.logger.warning)(report.summary())
        super()._log_incompatible_keys(incompatible)
