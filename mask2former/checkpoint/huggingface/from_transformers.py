"""A transformers checkpoint folder to this project's weights, config and class names."""

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY

from ...config import merge_config
from ...data.datasets.metadata_file import write_categories_file
from .architecture import MODEL_CLASSES, architecture_of, cfg_from_transformers, tensor_plan
from .errors import ConversionError
from .folder import read_folder
from .names import file_names
from .preprocessing import input_to_cfg
from .project_files import dataset_class_names, new_cfg, write_config, write_weights
from .tensor_plan import name_list

__all__ = ["TASKS", "Imported", "import_checkpoint"]

TASKS = ("semantic", "instance", "panoptic")
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


def _check_against_model(cfg: CfgNode, tensors: Dict[str, torch.Tensor], source: str):
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
        raise ConversionError(
            f"{source}: the converted weights do not fit the model: {name_list(problems)}"
        )


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


def _set_metadata(
    cfg, out_dir, names, source, thing_classes, dataset, tasks, notes
) -> Optional[str]:
    """Points DATASETS.TEST at the class names: a registered dataset, or a categories file
    written next to the config. Returns the file written, if any."""
    cfg.DATASETS.TRAIN = ()
    if dataset:
        if thing_classes:
            raise ConversionError("give the thing classes or a dataset, not both")
        dataset_names = dataset_class_names(dataset, len(names))
        if dataset_names is None:
            raise ConversionError(
                f"dataset {dataset!r} has no list of {len(names)} class names (the checkpoint's "
                "number); name a registered dataset with the same classes"
            )
        if (
            "panoptic" in tasks
            and MetadataCatalog.get(dataset).get("thing_dataset_id_to_contiguous_id", None) is None
        ):
            raise ConversionError(f"dataset {dataset!r} does not say which classes are things")
        differing = [(a, b) for a, b in zip(names, dataset_names) if a != b]
        if differing:
            notes.append(
                f"{len(differing)} of the {len(names)} class names of id2label differ from "
                f"those of {dataset} (e.g. {differing[0][0]!r} / {differing[0][1]!r}); the "
                "dataset's are used"
            )
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
    cfg = new_cfg()
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
    categories_file = _set_metadata(
        cfg, out_dir, names, source, thing_classes, dataset, tasks, notes
    )
    test = cfg.MODEL.MASK_FORMER.TEST
    test.SEMANTIC_ON, test.INSTANCE_ON, test.PANOPTIC_ON = (t in tasks for t in TASKS)
    test.OBJECT_MASK_THRESHOLD, test.OVERLAP_THRESHOLD = 0.8, 0.8
    weights_file = os.path.abspath(os.path.join(out_dir, f"model_final.{weights_format}"))
    cfg.MODEL.WEIGHTS = weights_file
    cfg.merge_from_list(list(opts))

    author = f"transformers {MODEL_CLASSES[architecture]} ({os.path.abspath(folder)})"
    write_weights(weights_file, converted.tensors, converted.carried, author)

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
    write_config(cfg, config_file, header)
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
