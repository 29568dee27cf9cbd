"""Metadata-only datasets: class names (and, when known, which classes are things and their
colours) from a categories file, without images.

A categories file is a JSON list in the format of ``mask2former/data/metadata/*.json``: one
``{"id", "name"}`` dict per class in contiguous-id order, optionally with ``"isthing"`` (0/1) and
``"color"`` ([r, g, b]). A config names it as a dataset, e.g. ``DATASETS.TEST:
["categories.json"]``: :func:`mask2former.config.merge_config` registers every name in
DATASETS.TRAIN / DATASETS.TEST that ends in ``.json`` with :func:`register_metadata_file`, so
the demo and the model (thing classes for panoptic inference) read its metadata like any
dataset's. Loading its images fails with a message saying it has none.
"""

import json
from typing import Dict, List, Sequence

from .catalog import DatasetNotFoundError, register_dataset, semantic_metadata

__all__ = [
    "METADATA_FILE_SUFFIX",
    "CategoriesFileError",
    "read_categories_file",
    "write_categories_file",
    "categories_metadata",
    "register_metadata_file",
]

METADATA_FILE_SUFFIX = ".json"


class CategoriesFileError(DatasetNotFoundError):
    """A categories file that is missing or not a list of categories."""


def read_categories_file(path: str) -> List[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            categories = json.load(f)
    except FileNotFoundError:
        raise CategoriesFileError(f"categories file {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise CategoriesFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(categories, list) or not all(
        isinstance(c, dict) and "id" in c and "name" in c for c in categories
    ):
        raise CategoriesFileError(
            f"{path}: expected a JSON list of categories, each with an 'id' and a 'name' "
            "(see mask2former/data/metadata/*.json)"
        )
    return categories


def write_categories_file(path: str, categories: Sequence[dict]) -> None:
    """One category per line, as the package's own metadata files."""
    lines = ",\n".join(json.dumps(c, ensure_ascii=False) for c in categories)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"[\n{lines}\n]\n")


def categories_metadata(categories: Sequence[dict]) -> Dict:
    """Semantic metadata of the categories (every class in ``stuff_classes``) plus, when they
    say which classes are things, the thing lists in the layout of the panoptic datasets
    (``thing_dataset_id_to_contiguous_id`` maps to the index among all classes)."""
    meta = semantic_metadata(categories)
    if all("isthing" in c for c in categories):
        things = [(i, c) for i, c in enumerate(categories) if c["isthing"]]
        meta["thing_classes"] = [c["name"] for _, c in things]
        meta["thing_dataset_id_to_contiguous_id"] = {c["id"]: i for i, c in things}
        if "stuff_colors" in meta:
            meta["thing_colors"] = [list(c["color"]) for _, c in things]
    return meta


def register_metadata_file(name: str, path: str) -> None:
    """(Re-)registers dataset ``name`` with the metadata of the categories file ``path``."""
    categories = read_categories_file(path)

    def no_images():
        raise DatasetNotFoundError(
            f"dataset '{name}' holds class names only ({path}), no images: name a dataset with "
            "images in DATASETS.TRAIN / DATASETS.TEST to train or evaluate"
        )

    register_dataset(
        name,
        no_images,
        required=[path],
        hint="It is a categories file",
        categories_file=path,
        **categories_metadata(categories),
    )
