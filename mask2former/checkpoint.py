"""Weight files: Detectron2's checkpointer extended with ``.safetensors`` (no pickle) and a clear
report of what a checkpoint did and did not provide.

File formats handled here:

- Detectron2 ``.pkl``: a pickled ``{"model": {name: ndarray}, "__author__": str, ...}`` (the
  model zoos of MaskFormer / Mask2Former and converted ImageNet weights). A pickle can run any
  code while it loads, so these files are unpickled with an allow-list of what weights need
  (containers, numpy arrays, torch tensors); anything else is refused with an error.
- ``.pth``: ``torch.save`` output, ``{"model": state_dict, ...}`` or a bare state_dict, read
  with ``torch.load(weights_only=True)`` (tensors and plain containers only, whatever
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says). Checkpoints written by this project also carry a
  checksum of their tensors, verified on reading (:mod:`mask2former.checkpoint_checksum`).
- ``.safetensors``: the tensors of ``"model"``; the other scalar entries (``__author__``,
  ``matching_heuristics``) as JSON strings in the file's metadata. Holds no code.
  ``tools/convert_checkpoint.py`` turns the two formats above into this one.

The one way to read a pickle that needs more than weights is ``tools/convert_checkpoint.py
--trust-pickle``, which converts it once into a ``.safetensors`` file.
"""

import io
import json
import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from safetensors import safe_open
from safetensors.torch import save_file

from .checkpoint_checksum import verify_checksum
from .errors import UserError

SAFETENSORS_SUFFIX = ".safetensors"
_SCALARS = (str, bool, int, float)


class CheckpointReadError(UserError, ValueError):
    """A weights file that cannot be read: truncated or damaged, or holding more than weights."""


class CorruptCheckpointError(CheckpointReadError):
    """A checkpoint whose tensors do not match the checksum it was written with."""


class UntrainedModelError(UserError, ValueError):
    """Weights that leave the backbone or the segmentation head (partly) untrained."""


def read_safetensors(path: str) -> Dict[str, Any]:
    """Reads a ``.safetensors`` file as a checkpoint dict ``{"model": {name: Tensor}, **metadata}``
    (metadata values JSON-decoded where possible). Never unpickles."""
    with safe_open(path, framework="pt", device="cpu") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
        metadata = f.metadata() or {}
    checkpoint: Dict[str, Any] = {}
    for key, text in metadata.items():
        try:
            checkpoint[key] = json.loads(text)
        except json.JSONDecodeError:
            checkpoint[key] = text  # written by another tool (e.g. {"format": "pt"})
    checkpoint["model"] = tensors
    return checkpoint


def _to_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray) and value.dtype != object:
        return torch.from_numpy(np.array(value, order="C"))  # a copy; keeps 0-d arrays 0-d
    raise ValueError(
        f"checkpoint entry 'model/{name}' is a {type(value).__name__}; expected a tensor or a "
        "numeric numpy array"
    )


def write_safetensors(checkpoint: Dict[str, Any], path: str) -> List[str]:
    """Writes ``checkpoint["model"]`` (tensors or numpy arrays) to ``path``, with the scalar
    top-level entries as metadata. Returns the names of the entries that were left out
    (non-scalar ones such as optimizer or scheduler state)."""
    if "model" not in checkpoint or not isinstance(checkpoint["model"], dict):
        raise ValueError(
            f"expected a checkpoint dict with a 'model' state_dict, got keys {sorted(checkpoint)}"
        )
    tensors, storages = {}, set()
    for name, value in checkpoint["model"].items():
        tensor = _to_tensor(name, value).contiguous()
        # safetensors refuses tensors that share memory (tied or pickled-twice weights)
        if tensor.untyped_storage().data_ptr() in storages:
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    metadata = {
        k: json.dumps(v) for k, v in checkpoint.items() if k != "model" and isinstance(v, _SCALARS)
    }
    save_file(tensors, path, metadata=metadata)
    return sorted(k for k in checkpoint if k != "model" and k not in metadata)


# Everything a pickled state_dict legitimately refers to: containers, numpy arrays (protocols
# 2-5, numpy 1 and 2 module names) and torch tensors.
_PICKLE_ALLOWED = {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
} | {
    (f"numpy.{core}.{module}", name)
    for core in ("core", "_core")
    for module, name in [
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),
    ]
}


def _storage_from_bytes(data: bytes):
    # a pickled torch tensor stores its storage as a nested torch.save payload
    return torch.load(io.BytesIO(data), weights_only=True)


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _storage_from_bytes
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to '{module}.{name}', which weights do not need")


def read_weights_pickle(path: str, trust_pickle: bool = False) -> Dict[str, Any]:
    """Reads a Detectron2 ``.pkl`` as a checkpoint dict, unpickling only what weights need
    (see ``_PICKLE_ALLOWED``) unless ``trust_pickle``. Like Detectron2, a pickle without
    "model" and "__author__" is taken as Caffe2 / Detectron1 blobs."""
    with open(path, "rb") as f:
        if trust_pickle:
            data = pickle.load(f, encoding="latin1")
        else:
            try:
                data = _WeightsUnpickler(f, encoding="latin1").load()
            except pickle.UnpicklingError as e:
                raise CheckpointReadError(
                    f"{path}: refused to unpickle: {e}. If you trust this file, convert it once "
                    f"with `python tools/convert_checkpoint.py --trust-pickle {path} "
                    "OUT.safetensors` and use the .safetensors file."
                ) from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of weights, got a {type(data).__name__}")
    if "model" in data and "__author__" in data:
        return data
    if "blobs" in data:  # detection models of Detectron1
        data = data["blobs"]
    data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
    return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}


def read_torch_file(path: str, trust_pickle: bool = False) -> Any:
    """``torch.load`` of ``path`` onto the CPU with ``weights_only=True`` (explicitly, so that
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot turn it off) unless ``trust_pickle``; a
    checksum written by this project is verified and removed. A file that cannot be read
    raises :class:`CheckpointReadError` naming ``path`` (:class:`CorruptCheckpointError` when
    its tensors do not match their checksum)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e):  # the weights-only unpickler names what it refused
            raise CheckpointReadError(
                f"{path}: cannot be read, the file is damaged or not written by torch.save"
            ) from e
        raise CheckpointReadError(
            f"{path}: holds objects other than tensors and plain containers; if you trust the "
            f"file, convert it once with `python tools/convert_checkpoint.py --trust-pickle "
            f"{path} OUT.safetensors` and use the .safetensors file"
        ) from e
    except (RuntimeError, EOFError) as e:
        raise CheckpointReadError(
            f"{path}: cannot be read, the file is truncated or damaged "
            f"({str(e).split('. ')[0] or type(e).__name__})"
        ) from e
    if isinstance(data, dict):
        problem = verify_checksum(data)
        if problem:
            raise CorruptCheckpointError(
                f"{path}: the checkpoint is corrupt: {problem}. Use another copy or an earlier "
                "checkpoint of the same run."
            )
    return data


def read_checkpoint(path: str, trust_pickle: bool = False) -> Dict[str, Any]:
    """Reads a ``.pkl``, ``.pth``/``.pt`` or ``.safetensors`` file as ``{"model": ..., ...}``.

    Pickle-based files are read safely (``.pkl``: see :func:`read_weights_pickle`; ``.pth``:
    :func:`read_torch_file`) unless ``trust_pickle``.
    """
    if path.endswith(SAFETENSORS_SUFFIX):
        return read_safetensors(path)
    if path.endswith(".pkl"):
        return read_weights_pickle(path, trust_pickle)
    data = read_torch_file(path, trust_pickle)
    if not isinstance(data, dict):
        raise CheckpointReadError(f"{path}: expected a dict of weights, got a {type(data).__name__}")
    return data if "model" in data else {"model": data}


def write_d2_pickle(state_dict: Dict[str, Any], path: str, author: str) -> None:
    """Writes weights as a Detectron2 ``.pkl`` (numpy arrays, loaded with name-matching
    heuristics, so names may lack the model's prefixes such as ``backbone.``)."""
    model = {name: _to_tensor(name, value).numpy() for name, value in state_dict.items()}
    with open(path, "wb") as f:
        pickle.dump({"model": model, "__author__": author, "matching_heuristics": True}, f)


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
        """"" when every tensor of the model's ``part`` (e.g. "backbone") was loaded, else what
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

    def load(self, path, *args, **kwargs):
        try:
            return super().load(path, *args, **kwargs)
        finally:
            # Detectron2 resets it only after a successful load; the next load asserts on it
            self._parsed_url_during_load = None

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
                (f for f in self.get_all_checkpoint_files() if os.path.abspath(f) != os.path.abspath(last)),
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
        query = parse_qs(self._parsed_url_during_load.query) if self._parsed_url_during_load else {}
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
        if report is not None:
            (self.logger.info if report.complete else self.logger.warning)(report.summary())
        super()._log_incompatible_keys(incompatible)
