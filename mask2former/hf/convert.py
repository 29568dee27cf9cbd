"""The two conversions end to end: a transformers checkpoint folder to this project's weights,
config and class names, and a config plus weights of this project to a transformers folder."""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import yaml
from detectron2.config import CfgNode, get_cfg
from detectron2.data import MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY, build_model

from ..checkpoint import MaskFormerCheckpointer, write_safetensors
from ..config import add_maskformer2_config, merge_config
from ..data.datasets.metadata_file import write_categories_file
from .architecture import (
    MODEL_CLASSES,
    architecture_of,
    cfg_from_transformers,
    tensor_plan,
    transformers_config,
)
from .errors import ConversionError
from .folder import read_folder, write_folder
from .names import file_names
from .preprocessing import image_processor_config, input_to_cfg
from .tensor_plan import carried_from_json, carried_to_json

__all__ = ["TASKS", "Imported", "Exported", "import_checkpoint", "export_checkpoint"]

TASKS = ("semantic", "instance", "panoptic")
# checkpoint entries: the transformers-only tensors (see tensor_plan) as JSON text, and the
# floating dtype of the transformers weights (written back in it)
CARRIED_KEY, DTYPE_KEY = "transformers_only_tensors", "transformers_dtype"
CONFIG_FILE, CATEGORIES_FILE = "config.yaml", "categories.json"


@dataclass
class Imported:
    """What :func:`import_checkpoint` wrote and how the tensors were accounted for."""

    config_file: str
    weights_file: str
    categories_file: Optional[str]
    architecture: str
    num_tensors: int
    derived: List[str] = field(default_factory=list)
    carried: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class Exported:
    files: List[str]
    num_tensors: int
    defaults: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _new_cfg() -> CfgNode:
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return cfg


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


def _check_against_model(cfg: CfgNode, tensors: Dict[str, torch.Tensor], source: str) -> None:
    """The converted tensors are exactly the state_dict of the model ``cfg`` builds (names and
    shapes); the model is built on the meta device (no memory, no initialization)."""
    cfg = cfg.clone()
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (), ()
    with torch.device("meta"):
        model = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = [f"missing {k}" for k in sorted(set(expected) - set(got))]
    problems += [f"unexpected {k}" for k in sorted(set(got) - set(expected))]
    problems += [
        f"{k}: shape {got[k]}, the model's {expected[k]}"
        for k in sorted(set(got) & set(expected))
        if got[k] != expected[k]
    ]
    if problems:
        shown = "; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
        raise ConversionError(f"{source}: the converted weights do not fit the model: {shown}")


def _things(spec: Sequence[str], names: List[str], source: str) -> List[int]:
    """Contiguous ids of ``spec`` entries (ids or class names)."""
    ids = []
    for entry in spec:
        entry = str(entry).strip()
        if entry.isdigit() and int(entry) < len(names):
            ids.append(int(entry))
        elif entry in names:
            ids.append(names.index(entry))
        else:
            raise ConversionError(
                f"thing class {entry!r} is neither an id below {len(names)} nor a class name "
                f"of {source} id2label"
            )
    return sorted(set(ids))


def _class_names(config: Dict, source: str) -> List[str]:
    labels = {int(k): v for k, v in config["id2label"].items()}
    if sorted(labels) != list(range(len(labels))):
        raise ConversionError(f"{source}: id2label keys must be 0..{len(labels) - 1}")
    return [str(labels[i]) for i in range(len(labels))]


def _set_metadata(cfg, out_dir, names, source, thing_classes, dataset, tasks) -> Optional[str]:
    """Points DATASETS.TEST at the class names: a registered dataset, or a categories file
    written next to the config. Returns the file written, if any."""
    cfg.DATASETS.TRAIN = ()
    if dataset:
        metadata = MetadataCatalog.get(dataset)
        if len(metadata.get("stuff_classes", ())) != len(names):
            raise ConversionError(
                f"dataset {dataset!r} has {len(metadata.get('stuff_classes', ()))} classes, the "
                f"checkpoint {len(names)}; name a registered dataset with the same classes"
            )
        if "panoptic" in tasks and metadata.get("thing_dataset_id_to_contiguous_id") is None:
            raise ConversionError(f"dataset {dataset!r} does not say which classes are things")
        cfg.DATASETS.TEST = (dataset,)
        return None
    things = _things(thing_classes, names, source) if thing_classes else None
    if "panoptic" in tasks and things is None:
        raise ConversionError(
            "panoptic inference needs to know which classes are things (their segments are "
            "kept apart): pass them as thing classes, or name a registered dataset with the "
            "same classes"
        )
    categories = [{"id": i, "name": n} for i, n in enumerate(names)]
    if things is not None:
        for c in categories:
            c["isthing"] = int(c["id"] in things)
    path = os.path.join(out_dir, CATEGORIES_FILE)
    write_categories_file(path, categories)
    cfg.DATASETS.TEST = (CATEGORIES_FILE,)  # relative to the config file (merge_config)
    return path


def import_checkpoint(
    folder: str,
    out_dir: str,
    *,
    tasks: Sequence[str] = ("semantic",),
    thing_classes: Sequence[str] = (),
    dataset: Optional[str] = None,
    weights_format: str = "safetensors",
    recipes: Optional[Dict[str, str]] = None,
    opts: Sequence[str] = (),
) -> Imported:
    """Converts the transformers checkpoint ``folder`` into ``out_dir``: the weights
    (``model_final.safetensors`` or ``.pth``), ``config.yaml`` and, unless ``dataset`` names a
    registered dataset with the same classes, ``categories.json``.

    Args:
        tasks: the inference results the config turns on (of :data:`TASKS`).
        thing_classes: class names or ids of the thing classes (needed for panoptic).
        recipes: architecture ("mask2former" / "maskformer") -> a YAML file whose settings
            (solver, input pipeline) the config starts from; the model keys are then set from
            ``config.json``.
        opts: KEY VALUE overrides applied last (e.g. test thresholds).
    """
    unknown = set(tasks) - set(TASKS)
    if unknown or not tasks:
        raise ConversionError(f"tasks {sorted(unknown) or '[]'}: expected some of {TASKS}")
    if weights_format not in ("safetensors", "pth"):
        raise ConversionError(f"weights format {weights_format!r}: expected safetensors or pth")
    src = read_folder(folder)
    source = os.path.join(folder, "config.json")
    cfg = _new_cfg()
    recipe = (recipes or {}).get(src.config.get("model_type"))
    if recipe:
        merge_config(cfg, recipe)
    notes = cfg_from_transformers(src.config, cfg, source)
    architecture = architecture_of(cfg)
    processor_file = os.path.join(folder, "preprocessor_config.json")
    notes += input_to_cfg(src.preprocessor, cfg, processor_file, architecture)
    names = _class_names(src.config, source)

    converted = tensor_plan(cfg).to_ours(file_names(src.tensors), src.weights_file)
    _check_against_model(cfg, converted.tensors, src.weights_file)

    os.makedirs(out_dir, exist_ok=True)
    categories_file = _set_metadata(cfg, out_dir, names, source, thing_classes, dataset, tasks)
    test = cfg.MODEL.MASK_FORMER.TEST
    test.SEMANTIC_ON, test.INSTANCE_ON, test.PANOPTIC_ON = (t in tasks for t in TASKS)
    test.OBJECT_MASK_THRESHOLD, test.OVERLAP_THRESHOLD = 0.8, 0.8
    weights_file = os.path.abspath(os.path.join(out_dir, f"model_final.{weights_format}"))
    cfg.MODEL.WEIGHTS = weights_file
    cfg.merge_from_list(list(opts))

    checkpoint = {
        "model": converted.tensors,
        "__author__": f"transformers {MODEL_CLASSES[architecture]} ({os.path.abspath(folder)})",
        "matching_heuristics": False,
    }
    if converted.carried:
        checkpoint[CARRIED_KEY] = carried_to_json(converted.carried)
    floating = {t.dtype for t in converted.tensors.values() if t.is_floating_point()}
    if len(floating) == 1:
        checkpoint[DTYPE_KEY] = str(floating.pop()).replace("torch.", "")
    if weights_format == "safetensors":
        write_safetensors(checkpoint, weights_file)
    else:
        torch.save(checkpoint, weights_file)

    config_file = os.path.join(out_dir, CONFIG_FILE)
    version = src.config.get("transformers_version", "unknown")
    header = [
        "Converted by tools/convert_checkpoint.py from the transformers checkpoint",
        f"{os.path.abspath(folder)}",
        f"({MODEL_CLASSES[architecture]}, written by transformers {version}).",
        "The model keys follow its config.json; the other settings are those of",
        recipe or "this project's defaults",
        "DATASETS.TEST names the class names; train or evaluate with DATASETS of your own.",
    ]
    with open(config_file, "w", encoding="utf-8") as f:
        f.write("".join(f"# {line}\n" for line in header))
        yaml.safe_dump(
            {**_differences(cfg, _new_cfg()), "VERSION": cfg.VERSION}, f, sort_keys=True
        )
    return Imported(
        config_file=config_file,
        weights_file=weights_file,
        categories_file=categories_file,
        architecture=architecture,
        num_tensors=len(converted.tensors),
        derived=converted.derived,
        carried=sorted(converted.carried),
        notes=notes,
    )


def _class_names_of(cfg) -> Tuple[List[str], List[str]]:
    """Class names from the metadata of DATASETS.TEST / TRAIN, and notes."""
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    for name in list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN):
        metadata = MetadataCatalog.get(name)
        for key in ("stuff_classes", "thing_classes"):
            names = metadata.get(key, None)
            if names is not None and len(names) == num_classes:
                return [str(n) for n in names], []
    return [f"LABEL_{i}" for i in range(num_classes)], [
        f"no dataset of DATASETS.TEST / TRAIN has {num_classes} class names: id2label holds "
        "transformers' placeholder names LABEL_<i>"
    ]


def export_checkpoint(
    config_file: str, weights: str, out_dir: str, opts: Sequence[str] = ()
) -> Exported:
    """Writes the model of ``config_file`` with ``weights`` as a transformers checkpoint
    folder (config.json, model.safetensors, preprocessor_config.json) in ``out_dir``."""
    cfg = _new_cfg()
    merge_config(cfg, config_file, opts)
    cfg.MODEL.DEVICE = "cpu"
    plan = tensor_plan(cfg)
    architecture = architecture_of(cfg)
    names, notes = _class_names_of(cfg)
    config = transformers_config(cfg, names)
    processor = image_processor_config(cfg, architecture)

    model = build_model(cfg)
    checkpointer = MaskFormerCheckpointer(model)
    extra = checkpointer.load(weights)  # what the file holds besides the weights
    report = checkpointer.last_report
    if not report.complete:
        raise ConversionError(f"{weights}: does not fill the model of {config_file}: {report.summary()}")
    carried = carried_from_json(extra[CARRIED_KEY]) if CARRIED_KEY in extra else {}
    dtype = getattr(torch, extra.get(DTYPE_KEY, "float32"))
    state = {
        k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    converted = plan.to_theirs(state, carried, weights)
    files = write_folder(out_dir, config, converted.tensors, processor)
    return Exported(files, len(converted.tensors), converted.defaults, notes)
