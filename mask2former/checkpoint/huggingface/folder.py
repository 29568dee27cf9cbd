"""Checkpoint folders in transformers' layout: ``config.json``, the weights
(``model.safetensors``, or ``pytorch_model.bin``; either possibly sharded with an
``*.index.json``) and optionally ``preprocessor_config.json``. ``.bin`` files are read with
``torch.load(weights_only=True)``: no pickled code runs."""

import json
import os
import pickle
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .errors import ConversionError

__all__ = ["TransformersFolder", "read_folder", "write_folder"]

CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
WEIGHTS = "model.safetensors"
_WEIGHT_FILES = (WEIGHTS, "pytorch_model.bin")


@dataclass
class TransformersFolder:
    path: str
    config: Dict
    tensors: Dict[str, torch.Tensor]
    weights_file: str  # the file (or index) the tensors came from
    preprocessor: Optional[Dict] = None


def _read_json(path: str) -> Dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: not valid JSON ({e})") from None


def _read_weights(path: str) -> Dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt", device="cpu") as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConversionError(
            f"{path}: holds objects other than tensors, refused ({e}); transformers' "
            "save_pretrained writes plain state_dicts"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise ConversionError(f"{path}: expected a state_dict (names to tensors)")
    return state


def read_folder(path: str) -> TransformersFolder:
    """Reads the config, image processor config (if any) and weights of a checkpoint folder."""
    if not os.path.isdir(path):
        raise ConversionError(f"{path}: not a folder; expected a transformers checkpoint folder")
    config_path = os.path.join(path, CONFIG)
    if not os.path.isfile(config_path):
        raise ConversionError(
            f"{path}: no {CONFIG}; expected a transformers checkpoint folder (config.json plus "
            "model.safetensors or pytorch_model.bin)"
        )
    for name in _WEIGHT_FILES:
        single, index = os.path.join(path, name), os.path.join(path, name + ".index.json")
        if os.path.isfile(single):
            tensors, weights_file = _read_weights(single), single
            break
        if os.path.isfile(index):
            shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
            if not shards:
                raise ConversionError(f"{index}: no weight_map")
            tensors = {}
            for shard in shards:
                tensors.update(_read_weights(os.path.join(path, shard)))
            weights_file = index
            break
    else:
        raise ConversionError(
            f"{path}: no weights; expected {' or '.join(_WEIGHT_FILES)} (or a sharded *.index.json)"
        )
    preprocessor_path = os.path.join(path, PREPROCESSOR)
    return TransformersFolder(
        path=path,
        config=_read_json(config_path),
        tensors=tensors,
        weights_file=weights_file,
        preprocessor=_read_json(preprocessor_path) if os.path.isfile(preprocessor_path) else None,
    )


def _write_json(path: str, data: Dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def write_folder(
    path: str, config: Dict, tensors: Dict[str, torch.Tensor], preprocessor: Dict
) -> List[str]:
    """Writes a checkpoint folder that transformers' ``from_pretrained`` loads; returns the
    files written."""
    os.makedirs(path, exist_ok=True)
    files = [os.path.join(path, n) for n in (CONFIG, WEIGHTS, PREPROCESSOR)]
    _write_json(files[0], config)
    # transformers refuses safetensors files without {"format": "pt"}
    save_file({k: t.contiguous() for k, t in tensors.items()}, files[1], metadata={"format": "pt"})
    _write_json(files[2], preprocessor)
    return files
