"""This project's side of a conversion: the weights file, which also keeps the
transformers-only tensors (see :mod:`.tensor_plan`) and the floating-point type of the
transformers weights for the way back; the config YAML, written as its differences from the
defaults; class names from dataset metadata."""

from typing import Dict, List, Optional, Tuple

import torch
import yaml
from detectron2.config import CfgNode, get_cfg
from detectron2.data import MetadataCatalog

from ...config import add_maskformer2_config
from ..formats import write_safetensors
from .tensor_plan import carried_from_json, carried_to_json

__all__ = [
    "new_cfg",
    "write_weights",
    "transformers_extras",
    "write_config",
    "dataset_class_names",
]

# checkpoint entries: the transformers-only tensors as JSON text, and the dtype of the
# transformers weights
_CARRIED_KEY, _DTYPE_KEY = "transformers_only_tensors", "transformers_dtype"


def new_cfg() -> CfgNode:
    """Detectron2's defaults plus this project's keys."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return cfg


def write_weights(
    path: str, tensors: Dict[str, torch.Tensor], carried: Dict[str, torch.Tensor], author: str
) -> None:
    """A ``.safetensors`` or ``.pth`` weights file that ``MODEL.WEIGHTS`` loads, with the
    carried tensors and the tensors' common floating dtype as extra entries."""
    checkpoint = {"model": tensors, "__author__": author, "matching_heuristics": False}
    if carried:
        checkpoint[_CARRIED_KEY] = carried_to_json(carried)
    floating = {t.dtype for t in tensors.values() if t.is_floating_point()}
    if len(floating) == 1:
        checkpoint[_DTYPE_KEY] = str(floating.pop()).replace("torch.", "")
    if path.endswith(".safetensors"):
        write_safetensors(checkpoint, path)
    else:
        torch.save(checkpoint, path)


def transformers_extras(entries: Dict) -> Tuple[Dict[str, torch.Tensor], torch.dtype]:
    """The carried tensors and the dtype recorded by :func:`write_weights`, from the entries a
    checkpointer's ``load`` returns (none and float32 for weights trained here)."""
    carried = carried_from_json(entries[_CARRIED_KEY]) if _CARRIED_KEY in entries else {}
    return carried, getattr(torch, entries.get(_DTYPE_KEY, "float32"))


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _differences(node: CfgNode, base: CfgNode) -> Dict:
    """The entries of ``node`` that differ from ``base``, nested as in the YAML file."""
    out = {}
    for key, value in node.items():
        if isinstance(value, CfgNode):
            nested = _differences(value, base[key])
            if nested:
                out[key] = nested
        elif _plain(value) != _plain(base[key]):
            out[key] = _plain(value)
    return out


def write_config(cfg: CfgNode, path: str, header: List[str]) -> None:
    """``cfg`` as the YAML of its differences from :func:`new_cfg` (plus VERSION), after
    ``header`` comment lines."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"# {line}\n" for line in header))
        differences = {**_differences(cfg, new_cfg()), "VERSION": cfg.VERSION}
        yaml.safe_dump(differences, f, sort_keys=True)


def dataset_class_names(name: str, num_classes: int) -> Optional[List[str]]:
    """The class names of a registered dataset's metadata, if it has ``num_classes``."""
    metadata = MetadataCatalog.get(name)
    for key in ("stuff_classes", "thing_classes"):
        names = metadata.get(key, None)
        if names is not None and len(names) == num_classes:
            return [str(n) for n in names]
    return None
