"""Weight file formats: reading and writing ``.pkl``, ``.pth`` and ``.safetensors`` files as
checkpoint dicts ``{"model": {name: tensor}, ...}``.

- Detectron2 ``.pkl``: a pickled ``{"model": {name: ndarray}, "__author__": str, ...}`` (the
  model zoos of MaskFormer / Mask2Former and converted ImageNet weights). A pickle can run any
  code while it loads, so these files are unpickled with an allow-list of what weights need
  (containers, numpy arrays, torch tensors); anything else is refused with an error.
- ``.pth``: ``torch.save`` output, ``{"model": state_dict, ...}`` or a bare state_dict, read
  with ``torch.load(weights_only=True)`` (tensors and plain containers only, whatever
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says). Checkpoints written by this project also carry a
  checksum of their tensors, verified on reading (:mod:`mask2former.checkpoint.checksum`).
- ``.safetensors``: the tensors of ``"model"``; the other scalar entries (``__author__``,
  ``matching_heuristics``) as JSON strings in the file's metadata. Holds no code.
  ``tools/convert_checkpoint.py`` turns the two formats above into this one.

The one way to read a pickle that needs more than weights is ``tools/convert_checkpoint.py
--trust-pickle``, which converts it once into a ``.safetensors`` file.
"""

import io
import json
import pickle
from typing import Any, Dict, List

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import UserError
from .checksum import verify_checksum

SAFETENSORS_SUFFIX = ".safetensors"
_SCALARS = (str, bool, int, float)


class CheckpointReadError(UserError, ValueError):
    """A weights file that cannot be read: truncated or damaged, or holding more than weights."""


class CorruptCheckpointError(CheckpointReadError):
    """A checkpoint whose tensors do not match the checksum it was written with."""


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
        raise CheckpointReadError(
            f"{path}: expected a dict of weights, got a {type(data).__name__}"
        )
    return data if "model" in data else {"model": data}


def write_d2_pickle(state_dict: Dict[str, Any], path: str, author: str) -> None:
    """Writes weights as a Detectron2 ``.pkl`` (numpy arrays, loaded with name-matching
    heuristics, so names may lack the model's prefixes such as ``backbone.``)."""
    model = {name: _to_tensor(name, value).numpy() for name, value in state_dict.items()}
    with open(path, "wb") as f:
        pickle.dump({"model": model, "__author__": author, "matching_heuristics": True}, f)
