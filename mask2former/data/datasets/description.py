"""A dataset described in one YAML file, registered like the built-in datasets.

A description names the dataset, its task, its classes, its splits and how its labels are
stored; relative paths are relative to the description's folder::

    name: leaves                 # registers leaves_train, leaves_val, ... (default: the file name)
    task: semantic               # semantic, instance or panoptic
    classes:                     # in order: the class index is the position
      - background
      - {name: healthy, color: [0, 200, 0]}
      - {name: rust, color: [200, 80, 0]}
    splits:
      train: {image_root: images/train, sem_seg_root: labels/train}
      val: {image_root: images/val, sem_seg_root: labels/val}

The keys of a split are Detectron2's metadata names: ``image_root`` and, for the labels,
``sem_seg_root`` (semantic: label images matched to the images by file name), ``json_file``
(instance: a COCO instance file) or ``panoptic_json`` and ``panoptic_root`` (panoptic: a COCO
panoptic file and its PNG folder). A split without them has images only (for prediction).
Semantic labels hold class indices (``label_format: index``, the default; ``ignore_label``:
the value of unlabeled pixels, 255 by default; ``zero_is_ignore: true``: 0 is unlabeled and
class k is stored as k + 1) or colours (``label_format: color``: each class has a ``color``;
``ignore_colors``: colours of unlabeled pixels); ``label_suffix``: what a label's name adds to
its image's (``_mask``). For COCO files ``classes`` is optional (default: the file's categories
in id order); given, the file's categories are matched to it by name. Panoptic classes say
which are things (``thing: true``, or ``isthing`` in the file's categories). Files derived from
the labels go to ``cache`` (default: ``.mask2former-cache/<name>`` beside the description).
docs/custom_data.md walks through it.

:func:`register_description` registers ``<name>_<split>`` for every split with the metadata of
the built-in registrations (``mask2former/data/datasets/register_*.py``), so the mappers,
evaluators, the demo and the visualizer work unchanged. A config names a split as
``<description file>:<split>`` in DATASETS.TRAIN / DATASETS.TEST (``my_data.yaml:train``);
:func:`mask2former.config.merge_config` then registers that name too.
"""

import functools
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import yaml
from detectron2.data import DatasetCatalog
from detectron2.utils.colormap import colormap

from ...errors import UserError
from ..formats import (
    CocoFileError,
    SemanticLabelFormat,
    derived_instances_json,
    derived_semantic_root,
    list_images,
    load_instance_records,
    load_panoptic_records,
    load_semantic_records,
    read_coco_categories,
)
from .catalog import (
    DatasetNotFoundError,
    instance_metadata,
    panoptic_metadata,
    register_dataset,
    semantic_metadata,
)

__all__ = [
    "DESCRIPTION_ENTRY",
    "TASKS",
    "DatasetDescription",
    "DescribedDataset",
    "DescriptionError",
    "described_dataset",
    "description_overrides",
    "read_description",
    "register_description",
    "register_description_entry",
    "semantic_label_format",
    "split_categories",
    "task_mappers",
]

logger = logging.getLogger(__name__)

TASKS = ("semantic", "instance", "panoptic")
# "<description file>:<split>", the name of a described split in DATASETS.TRAIN / TEST
DESCRIPTION_ENTRY = re.compile(r"^(?P<path>.+\.ya?ml):(?P<split>[A-Za-z0-9_]+)$")
# the keys of a split that hold its labels, per task
LABEL_KEYS = {
    "semantic": ("sem_seg_root",),
    "instance": ("json_file",),
    "panoptic": ("panoptic_json", "panoptic_root"),
}
_TOP_KEYS = {
    "name",
    "task",
    "classes",
    "splits",
    "cache",
    "ignore_label",
    "label_format",
    "zero_is_ignore",
    "ignore_colors",
    "label_suffix",
}
_SEMANTIC_ONLY = ("ignore_label", "label_format", "zero_is_ignore", "ignore_colors", "label_suffix")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# which dataset mappers (INPUT.DATASET_MAPPER_NAME) read each task's records
_MAPPERS = {
    "semantic": ("mask_former_semantic",),
    "instance": ("mask_former_instance", "coco_instance_lsj"),
    "panoptic": (
        "mask_former_panoptic",
        "coco_panoptic_lsj",
        "detr_panoptic",
        "mask_former_semantic",
    ),
}


class DescriptionError(UserError, ValueError):
    """A dataset description that is not valid: the message names the file and the key."""


@dataclass
class Split:
    """One split: its images and, when labelled, its label paths (absolute)."""

    name: str
    image_root: str
    labels: Dict[str, str] = field(default_factory=dict)


@dataclass
class DatasetDescription:
    """A parsed description file (see the module doc); paths are absolute. ``classes``: dicts
    with "name" and, when given, "color" and "isthing"; None for a COCO file's categories."""

    path: str
    name: str
    task: str
    classes: Optional[List[dict]]
    splits: Dict[str, Split]
    cache: str
    ignore_label: int = 255
    label_format: str = "index"
    zero_is_ignore: bool = False
    ignore_colors: Tuple[Tuple[int, int, int], ...] = ()
    label_suffix: str = ""

    def dataset_name(self, split: str) -> str:
        return f"{self.name}_{split}"


@dataclass(frozen=True)
class DescribedDataset:
    """What the config needs to know of a registered described split."""

    description: str  # the description file
    split: str
    task: str
    num_classes: int


_DESCRIBED: Dict[str, DescribedDataset] = {}


def described_dataset(name: str) -> Optional[DescribedDataset]:
    """The description behind the registered dataset ``name``, or None."""
    return _DESCRIBED.get(name)


def task_mappers(task: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(the dataset mappers that read ``task``'s records, every mapper of this table)."""
    return _MAPPERS[task], tuple(sorted({m for ms in _MAPPERS.values() for m in ms}))


# ---- reading ----
def _fail(path: str, key: str, message: str):
    raise DescriptionError(f"{path}: {key}: {message}")


def _color(path: str, key: str, value) -> Tuple[int, int, int]:
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        _fail(path, key, f"expected a colour [r, g, b] of integers 0-255, got {value!r}")
    return tuple(value)


def _classes(path: str, value) -> List[dict]:
    if not isinstance(value, list) or not value:
        _fail(path, "classes", f"expected a non-empty list of class names, got {value!r}")
    classes = []
    for i, entry in enumerate(value):
        key = f"classes[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            _fail(
                path,
                key,
                f"expected a name or {{name: ..., color: [r, g, b], thing: true}}, got {entry!r}",
            )
        unknown = set(entry) - {"name", "color", "thing"}
        if unknown:
            _fail(
                path,
                key,
                f"unknown keys {sorted(unknown)}; a class has a name, a color and thing (true / false)",
            )
        cls = {"name": entry["name"]}
        if "color" in entry:
            cls["color"] = list(_color(path, f"{key}.color", entry["color"]))
        if "thing" in entry:
            if not isinstance(entry["thing"], bool):
                _fail(path, f"{key}.thing", f"expected true or false, got {entry['thing']!r}")
            cls["isthing"] = int(entry["thing"])
        classes.append(cls)
    names = [c["name"] for c in classes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        _fail(path, "classes", f"names given more than once: {', '.join(repeated)}")
    return classes


def _path(path: str, key: str, value, folder: str) -> str:
    if not isinstance(value, str) or not value:
        _fail(path, key, f"expected a path, got {value!r}")
    return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))


def _splits(path: str, value, task: str, folder: str) -> Dict[str, Split]:
    if not isinstance(value, dict) or not value:
        _fail(path, "splits", "expected a mapping of split names (train, val, ...) to their paths")
    label_keys = LABEL_KEYS[task]
    splits = {}
    for name, entry in value.items():
        key = f"splits.{name}"
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_]+$", name):
            _fail(path, key, "a split name has letters, digits and underscores only")
        if not isinstance(entry, dict) or "image_root" not in entry:
            _fail(
                path,
                key,
                f"expected {{image_root: ..., {': ..., '.join(label_keys)}: ...}}, got {entry!r}",
            )
        unknown = set(entry) - {"image_root", *label_keys}
        if unknown:
            _fail(
                path,
                key,
                f"unknown keys {sorted(unknown)} for a {task} dataset; valid: image_root, {', '.join(label_keys)}",
            )
        present = [k for k in label_keys if k in entry]
        if present and len(present) != len(label_keys):
            _fail(path, key, f"a labelled {task} split needs {' and '.join(label_keys)}")
        splits[name] = Split(
            name,
            _path(path, f"{key}.image_root", entry["image_root"], folder),
            {k: _path(path, f"{key}.{k}", entry[k], folder) for k in present},
        )
        if splits[name].labels.get("sem_seg_root") == splits[name].image_root:
            _fail(path, key, "image_root and sem_seg_root must be different folders")
    return splits


def read_description(path: str) -> DatasetDescription:
    """Parse and check the description file ``path`` (see the module doc).

    Raises:
        DescriptionError: a missing file, invalid YAML, an unknown key or a value that cannot
            work, naming the key.
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise DescriptionError(f"dataset description {path} does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DescriptionError(f"{path}: not valid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise DescriptionError(
            f"{path}: expected a mapping with task, classes and splits (docs/custom_data.md)"
        )
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise DescriptionError(
            f"{path}: unknown keys {sorted(unknown)}; valid: {', '.join(sorted(_TOP_KEYS))}"
        )
    folder = os.path.dirname(path)
    name = data.get("name", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(path, "name", f"expected letters, digits, '_', '.' or '-', got {name!r}")
    task = data.get("task")
    if task not in TASKS:
        _fail(path, "task", f"expected one of {', '.join(TASKS)}, got {task!r}")
    if task != "semantic":
        given = [k for k in _SEMANTIC_ONLY if k in data]
        if given:
            _fail(
                path,
                given[0],
                f"is for semantic label images; a {task} dataset's labels are COCO files",
            )
    classes = _classes(path, data["classes"]) if "classes" in data else None
    if classes is None and task == "semantic":
        _fail(
            path,
            "classes",
            "a semantic dataset lists its classes (their order gives the label values)",
        )
    description = DatasetDescription(
        path=path,
        name=name,
        task=task,
        classes=classes,
        splits=_splits(path, data.get("splits"), task, folder),
        cache=_path(
            path, "cache", data.get("cache", os.path.join(".mask2former-cache", name)), folder
        ),
    )
    if task == "semantic":
        _semantic_options(description, data)
    return description


def _semantic_options(description: DatasetDescription, data: dict) -> None:
    path, classes = description.path, description.classes
    ignore = data.get("ignore_label", 255)
    if not isinstance(ignore, int) or isinstance(ignore, bool) or not 0 <= ignore <= 65535:
        _fail(path, "ignore_label", f"expected an integer 0-65535, got {ignore!r}")
    if ignore < len(classes):
        _fail(
            path,
            "ignore_label",
            f"{ignore} is the index of class {classes[ignore]['name']!r}; unlabeled pixels need a value of their own (255 by default)",
        )
    label_format = data.get("label_format", "index")
    if label_format not in ("index", "color"):
        _fail(
            path,
            "label_format",
            f"expected index (class indices) or color (RGB colours), got {label_format!r}",
        )
    zero_is_ignore = data.get("zero_is_ignore", False)
    if not isinstance(zero_is_ignore, bool):
        _fail(path, "zero_is_ignore", f"expected true or false, got {zero_is_ignore!r}")
    if zero_is_ignore and label_format == "color":
        _fail(
            path,
            "zero_is_ignore",
            "is for index labels; colour labels name unlabeled pixels with ignore_colors",
        )
    ignore_colors = data.get("ignore_colors", [])
    if not isinstance(ignore_colors, list) or (ignore_colors and label_format != "color"):
        _fail(
            path, "ignore_colors", "expected a list of colours [r, g, b], with label_format: color"
        )
    for c in classes:
        if "isthing" in c:
            _fail(path, "classes", f"{c['name']!r}: 'thing' is for instance and panoptic datasets")
    if label_format == "color":
        missing = [c["name"] for c in classes if "color" not in c]
        if missing:
            _fail(
                path,
                "classes",
                f"label_format color needs the colour of every class; none for {', '.join(missing)}",
            )
        colors = [tuple(c["color"]) for c in classes] + [
            _color(path, f"ignore_colors[{i}]", c) for i, c in enumerate(ignore_colors)
        ]
        repeated = sorted({c for c in colors if colors.count(c) > 1})
        if repeated:
            _fail(
                path,
                "classes",
                f"colours given to more than one class (or ignore_colors): {repeated}",
            )
        description.ignore_colors = tuple(colors[len(classes) :])
    label_suffix = data.get("label_suffix", "")
    if not isinstance(label_suffix, str):
        _fail(path, "label_suffix", f"expected text, got {label_suffix!r}")
    description.ignore_label = ignore
    description.label_format = label_format
    description.zero_is_ignore = zero_is_ignore
    description.label_suffix = label_suffix


# ---- classes of each split ----
def _palette_color(index: int) -> List[int]:
    return [int(round(v)) for v in colormap(rgb=True, maximum=255)[index % 74]]


def _label_file(split: Split) -> Optional[str]:
    return split.labels.get("json_file") or split.labels.get("panoptic_json")


def _first_labelled(description: DatasetDescription) -> Optional[Split]:
    labelled = [s for s in description.splits.values() if _label_file(s)]
    return next((s for s in labelled if s.name == "train"), labelled[0] if labelled else None)


def _file_categories(description: DatasetDescription, json_file: str) -> List[dict]:
    try:
        return read_coco_categories(json_file, description.cache)
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{description.path}: {json_file} does not exist") from None
    except CocoFileError as e:
        raise DescriptionError(str(e)) from None


def _base_classes(description: DatasetDescription) -> List[dict]:
    """The classes as written, or the categories of the first labelled split's file."""
    if description.classes is not None:
        return description.classes
    split = _first_labelled(description)
    if split is None:
        _fail(
            description.path,
            "classes",
            "no split has a COCO file to take the classes from: list them",
        )
    categories = sorted(_file_categories(description, _label_file(split)), key=lambda c: c["id"])
    return [{k: c[k] for k in ("name", "color", "isthing") if k in c} for c in categories]


def split_categories(description: DatasetDescription, split: Split) -> List[dict]:
    """The dataset's classes in contiguous order as categories of ``split`` (dicts with "id",
    "name", "color", "isthing"): for COCO files, each with the id that the split's file gives
    its name (other files' classes get unused ids); for semantic labels, its index."""
    classes = _base_classes(description)
    if description.task == "semantic":
        return [
            {"id": i, "name": c["name"], "color": c.get("color", _palette_color(i)), "isthing": 0}
            for i, c in enumerate(classes)
        ]
    split = split if _label_file(split) else _first_labelled(description) or split
    by_name = {}
    if _label_file(split):
        names = [c["name"] for c in classes]
        for category in _file_categories(description, _label_file(split)):
            if category["name"] not in names:
                raise DescriptionError(
                    f"{_label_file(split)}: category {category['name']!r} (id {category['id']}) is "
                    f"not among the classes of {description.path} ({', '.join(names)}): add it "
                    "to classes"
                )
            by_name[category["name"]] = category
    next_id = max([c["id"] for c in by_name.values()], default=0) + 1
    categories = []
    for i, cls in enumerate(classes):
        category = by_name.get(cls["name"], {})
        if category:
            category_id = category["id"]
        else:
            category_id, next_id = next_id, next_id + 1
        isthing = (
            1 if description.task == "instance" else cls.get("isthing", category.get("isthing"))
        )
        if isthing is None:
            _fail(
                description.path,
                "classes",
                f"{cls['name']!r}: a panoptic dataset says which classes are things (thing: true "
                "or false), here or as isthing in the categories of its COCO file",
            )
        color = cls.get("color") or category.get("color") or _palette_color(i)
        categories.append(
            {"id": category_id, "name": cls["name"], "color": list(color), "isthing": int(isthing)}
        )
    return categories


# ---- registration ----
def semantic_label_format(description: DatasetDescription) -> SemanticLabelFormat:
    """How the semantic dataset of ``description`` stores its labels."""
    colors = description.label_format == "color"
    return SemanticLabelFormat(
        num_classes=len(description.classes),
        ignore_label=description.ignore_label,
        zero_is_ignore=description.zero_is_ignore,
        colors=tuple(tuple(c["color"]) for c in description.classes) if colors else None,
        ignore_colors=description.ignore_colors,
    )


def _split_cache(description: DatasetDescription, split: Split) -> str:
    return os.path.join(description.cache, split.name)


def _load_split(
    description: DatasetDescription, split: Split, categories: List[dict]
) -> List[dict]:
    source = f"{description.path} {split.name}"
    labels = split.labels
    if not labels:  # images only
        images = list_images(split.image_root)
        if not images:
            raise DatasetNotFoundError(f"{source}: no image in {split.image_root}")
        return [{"file_name": image, "image_id": i} for i, image in enumerate(images)]
    cache = _split_cache(description, split)
    if description.task == "semantic":
        return load_semantic_records(
            split.image_root,
            labels["sem_seg_root"],
            semantic_label_format(description),
            cache,
            description.label_suffix,
            source,
        )
    if description.task == "instance":
        id_map = {c["id"]: i for i, c in enumerate(categories)}
        return load_instance_records(labels["json_file"], split.image_root, id_map, source)
    return load_panoptic_records(
        labels["panoptic_json"],
        split.image_root,
        labels["panoptic_root"],
        categories,
        cache,
        source,
    )


def _metadata(description: DatasetDescription, split: Split, categories: List[dict]) -> dict:
    """The metadata of a described split, as the built-in registrations of its task give it."""
    labels, task = split.labels, description.task
    meta = {"image_root": split.image_root, "description_file": description.path}
    if task == "semantic":
        root = labels.get("sem_seg_root")
        if root and semantic_label_format(description).needs_conversion:
            root = _split_cache(description, split)
        meta.update(semantic_metadata(categories), ignore_label=description.ignore_label)
        if root:
            meta.update(sem_seg_root=root, evaluator_type="sem_seg")
    elif task == "instance":
        meta.update(instance_metadata(categories))
        if labels:
            meta.update(json_file=labels["json_file"], evaluator_type="coco")
    else:
        meta.update(panoptic_metadata(categories), ignore_label=255, label_divisor=1000)
        if labels:
            cache = _split_cache(description, split)
            meta.update(
                panoptic_root=labels["panoptic_root"],
                panoptic_json=labels["panoptic_json"],
                sem_seg_root=derived_semantic_root(cache),
                json_file=derived_instances_json(cache),
                evaluator_type="coco_panoptic_seg",
            )
    return meta


def register_description(path: str, aliases: Mapping[str, str] = {}) -> DatasetDescription:
    """Register every split of the description file ``path`` as ``<name>_<split>`` in
    Detectron2's DatasetCatalog and MetadataCatalog (records loaded lazily, when first used),
    and also under each name of ``aliases`` (name -> split). Returns the description.

    Raises:
        DescriptionError: an invalid description, a split name that a dataset of this
            package or Detectron2 already has.
    """
    description = read_description(path)
    hint = f"Fix the paths in {description.path} (relative paths are relative to its folder)"
    for split in description.splits.values():
        categories = split_categories(description, split)
        names = [description.dataset_name(split.name)] + [
            a for a, s in aliases.items() if s == split.name
        ]
        for name in names:
            if name in DatasetCatalog and name not in _DESCRIBED:
                _fail(
                    description.path,
                    "name",
                    f"{name!r} is a dataset of its own already: choose another name",
                )
            register_dataset(
                name,
                functools.partial(_load_split, description, split, categories),
                required=[split.image_root, *split.labels.values()],
                hint=hint,
                lookup="",
                **_metadata(description, split, categories),
            )
            _DESCRIBED[name] = DescribedDataset(
                description.path, split.name, description.task, len(categories)
            )
    return description


def register_description_entry(entry: str, folder: str) -> DatasetDescription:
    """Register the description named by the DATASETS entry ``entry``
    (``<description file>:<split>``, a relative file being relative to ``folder``), with
    ``entry`` itself as a name of that split."""
    match = DESCRIPTION_ENTRY.match(entry)
    if match is None:
        raise ValueError(f"{entry!r} is not '<description file>:<split>'")
    path = os.path.join(folder, os.path.expanduser(match["path"]))
    description = read_description(path)
    if match["split"] not in description.splits:
        raise DescriptionError(
            f"{entry}: {description.path} has no split {match['split']!r}; its splits: "
            f"{', '.join(description.splits)}"
        )
    return register_description(path, {entry: match["split"]})


def description_overrides(path: str) -> List[str]:
    """The config overrides (KEY VALUE ...) that train on the ``train`` split of the
    description file ``path`` and evaluate on its ``val`` split (else ``test``), naming it by
    its absolute path so that the written config works from any folder."""
    description = read_description(path)
    train = [f"{description.path}:train"] if "train" in description.splits else []
    test = [f"{description.path}:{s}" for s in ("val", "test") if s in description.splits][:1]
    return ["DATASETS.TRAIN", repr(tuple(train)), "DATASETS.TEST", repr(tuple(test))]
