"""The one helper behind every dataset registration of this package: category data files,
the metadata derived from them, and lazy registration with a clear missing-data error."""

import difflib
import functools
import json
import os
from typing import Callable, Dict, List, Sequence, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog

from ...errors import UserError

__all__ = [
    "DatasetNotFoundError",
    "UnknownDatasetError",
    "check_datasets",
    "datasets_root",
    "load_categories",
    "semantic_metadata",
    "panoptic_metadata",
    "instance_metadata",
    "register_dataset",
    "detectron2_metadata",
]

_METADATA_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "metadata")
README = "datasets/README.md"


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A registered dataset whose files are not where its registration expects them."""


class UnknownDatasetError(UserError, KeyError):
    """A dataset name that nothing registered."""


# name -> (required paths, hint) of the datasets registered through register_dataset
_REQUIREMENTS: Dict[str, Tuple[Sequence[str], str]] = {}


def datasets_root() -> str:
    """$DETECTRON2_DATASETS, or "datasets" (relative to the working directory), as detectron2."""
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


@functools.lru_cache(maxsize=None)
def _read_categories(name: str) -> tuple:
    path = os.path.join(_METADATA_DIR, name + ".json")
    with open(path) as f:
        categories = json.load(f)
    for key in ("id", "name"):
        if any(key not in c for c in categories):
            raise ValueError(f"{path}: every category needs an {key!r}")
    return tuple(categories)


def load_categories(name: str) -> List[dict]:
    """Categories (dicts with "id", "name" and, where known, "isthing", "color") from
    ``mask2former/data/metadata/<name>.json``, in contiguous-id order. Returns copies."""
    return [dict(c) for c in _read_categories(name)]


def semantic_metadata(categories: Sequence[dict]) -> Dict:
    """Metadata of a semantic segmentation dataset whose labels are contiguous indices."""
    meta = {
        "stuff_classes": [c["name"] for c in categories],
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories)},
    }
    if all("color" in c for c in categories):
        meta["stuff_colors"] = [list(c["color"]) for c in categories]
    return meta


def panoptic_metadata(categories: Sequence[dict]) -> Dict:
    """Metadata of a panoptic dataset, in the layout of the published registrations:
    contiguous ids run over all categories; ``stuff_*`` lists hold every category (the
    semantic evaluator uses them), ``thing_*`` lists hold the things in contiguous order (the
    COCO instance evaluator uses them) and ``thing_dataset_id_to_contiguous_id`` maps thing
    ids to their index among all categories."""
    return {
        "thing_classes": [c["name"] for c in categories if c["isthing"]],
        "thing_colors": [list(c["color"]) for c in categories if c["isthing"]],
        "stuff_classes": [c["name"] for c in categories],
        "stuff_colors": [list(c["color"]) for c in categories],
        "thing_dataset_id_to_contiguous_id": {
            c["id"]: i for i, c in enumerate(categories) if c["isthing"]
        },
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories)},
    }


def instance_metadata(things: Sequence[dict]) -> Dict:
    """Metadata of an instance segmentation dataset of the categories ``things``, contiguous
    ids in their order (``thing_colors`` where every category has a colour)."""
    meta = {"thing_classes": [c["name"] for c in things]}
    if all("color" in c for c in things):
        meta["thing_colors"] = [c["color"] for c in things]
    meta["thing_dataset_id_to_contiguous_id"] = {c["id"]: i for i, c in enumerate(things)}
    return meta


# where the built-in datasets are looked for, for the message of a missing one
_LOOKUP = (
    f"; folder layouts are in {README}. Datasets are looked up under $DETECTRON2_DATASETS "
    "(default: ./datasets)."
)


def _check_paths(name: str, required: Sequence[str], hint: str):
    missing = [p for p in required if not os.path.exists(p)]
    if missing:
        raise DatasetNotFoundError(
            f"Dataset '{name}' is not where it was registered: missing {', '.join(missing)}. {hint}"
        )


def register_dataset(
    name: str,
    loader: Callable[[], list],
    *,
    required: Sequence[str],
    hint: str,
    lookup: str = _LOOKUP,
    **metadata,
):
    """(Re-)register ``name`` in DatasetCatalog / MetadataCatalog.

    ``loader`` runs lazily, when the dataset is first used, and only after every path in
    ``required`` was found to exist; otherwise a :class:`DatasetNotFoundError` names the
    missing paths, ``hint`` (how to prepare the data) and ``lookup`` (by default, where the
    built-in datasets are looked for). Registering an existing name replaces it, so the
    datasets can be re-rooted (e.g. in tests).
    """
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)
    hint = hint + (lookup or ".")
    _REQUIREMENTS[name] = (tuple(required), hint)

    def load():
        _check_paths(name, required, hint)
        return loader()

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(**metadata)


_DETECTRON2_METADATA: Dict[str, dict] = {}


def detectron2_metadata(name: str) -> dict:
    """The metadata detectron2's builtin registration gave ``name`` (a snapshot taken before
    this package re-registers it), without the "name" key."""
    if name not in _DETECTRON2_METADATA:
        metadata = MetadataCatalog.get(name).as_dict()
        metadata.pop("name", None)
        _DETECTRON2_METADATA[name] = metadata
    return dict(_DETECTRON2_METADATA[name])


def check_datasets(names: Sequence[str], key: str) -> None:
    """Check, without loading them, that the datasets ``names`` (the value of config key
    ``key``, e.g. "DATASETS.TRAIN") are registered and, for those registered by this package,
    that their files are where the registration expects them.

    Raises:
        UnknownDatasetError: a name is not registered (the message suggests close names).
        DatasetNotFoundError: a dataset's files are missing.
    """
    for name in names:
        if name not in DatasetCatalog:
            registered = DatasetCatalog.list()
            close = difflib.get_close_matches(name, registered, n=3, cutoff=0.6)
            suggestion = (
                "did you mean " + " or ".join(close) + "?"
                if close
                else f"the {len(registered)} registered names are in DatasetCatalog.list()"
            )
            raise UnknownDatasetError(
                f"{key}: no dataset named '{name}' is registered; {suggestion}"
            )
        if name in _REQUIREMENTS:
            _check_paths(name, *_REQUIREMENTS[name])
