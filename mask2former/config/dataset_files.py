"""Datasets that a config names by a file, registered when the config is merged, and the
model that follows them.

DATASETS.TRAIN / DATASETS.TEST may name, besides registered datasets,

- a categories file, ``names.json`` (class names only: see
  :mod:`mask2former.data.datasets.metadata_file`), registered under that name;
- a split of a dataset description, ``my_data.yaml:train`` (see
  :mod:`mask2former.data.datasets.description`), registered under that name and as
  ``<name>_<split>`` with every other split of the description.

A relative file is relative to the YAML file that sets the list, or to the working directory
when the command line sets it, so that a config reproduces its experiment from any folder.

The model follows a described dataset: MODEL.SEM_SEG_HEAD.NUM_CLASSES becomes its number of
classes, unless the config sets a number where it names the dataset (the same file, or the
command line) or closer still, which must then be the same. The dataset mapper must read the
dataset's task (a semantic mapper cannot train on COCO instance files).
"""

import logging
import os
from typing import Callable, List, Sequence, Tuple

from detectron2.config import CfgNode

from ..data.datasets.description import (
    DESCRIPTION_ENTRY,
    described_dataset,
    register_description_entry,
    task_mappers,
)
from ..data.datasets.metadata_file import METADATA_FILE_SUFFIX, register_metadata_file
from .checks import ConfigValueError

__all__ = ["follow_described_datasets", "register_dataset_files"]

logger = logging.getLogger(__name__)

NUM_CLASSES = "MODEL.SEM_SEG_HEAD.NUM_CLASSES"
MAPPER = "INPUT.DATASET_MAPPER_NAME"
_KEYS = ("DATASETS.TRAIN", "DATASETS.TEST")


def register_dataset_files(cfg: CfgNode, folder_of: Callable[[str], str]) -> None:
    """Register the categories files and description splits that DATASETS.TRAIN / TEST name.
    ``folder_of(key)``: the folder that relative files of the config key ``key`` are
    relative to."""
    for key in _KEYS:
        for name in cfg.DATASETS[key.split(".")[1]]:
            if name.endswith(METADATA_FILE_SUFFIX):
                register_metadata_file(name, os.path.join(folder_of(key), os.path.expanduser(name)))
            elif DESCRIPTION_ENTRY.match(name):
                register_description_entry(name, folder_of(key))


def _described(cfg: CfgNode) -> List[Tuple[str, str, object]]:
    """(config key, dataset name, DescribedDataset) of the described datasets the config names."""
    return [
        (key, name, described_dataset(name))
        for key in _KEYS
        for name in cfg.DATASETS[key.split(".")[1]]
        if described_dataset(name) is not None
    ]


def follow_described_datasets(
    cfg: CfgNode, rank: Callable[[str], int], where: Callable[[str], str]
) -> None:
    """Set NUM_CLASSES from the described datasets of ``cfg`` and check its mapper (see the
    module doc).

    Args:
        rank: precedence of where a key is set: 0 for the command line, larger for files
            further from it (a ``_BASE_`` file ranks after the file that names it), largest
            for a default.
        where: where a key is set, for messages ("in x.yaml", "on the command line").

    Raises:
        ConfigValueError: datasets with different numbers of classes, a NUM_CLASSES that
            differs from theirs where it cannot be replaced, a mapper of another task.
    """
    described = _described(cfg)
    if not described:
        return
    _, first_name, first = described[0]
    for _, name, dataset in described[1:]:
        if dataset.num_classes != first.num_classes:
            raise ConfigValueError(
                f"DATASETS name {first_name} ({first.num_classes} classes, {first.description}) "
                f"and {name} ({dataset.num_classes} classes, {dataset.description}): one model "
                "has one set of classes"
            )
    number, current = first.num_classes, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    if current != number:
        naming_key = min((key for key, _, _ in described), key=rank)
        if rank(NUM_CLASSES) <= rank(naming_key):
            raise ConfigValueError(
                f"{NUM_CLASSES} = {current} ({where(NUM_CLASSES)}) but dataset {first_name} "
                f"({first.description}) has {number} classes: remove the setting (the number "
                f"follows the dataset) or make it {number}"
            )
        logger.info(
            f"{NUM_CLASSES}: {number}, the classes of {first_name} ({first.description}), "
            f"instead of {current} ({where(NUM_CLASSES)})"
        )
        cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = number
    _check_mapper(
        cfg, [(name, dataset) for key, name, dataset in described if key == "DATASETS.TRAIN"], where
    )


def _check_mapper(cfg: CfgNode, training: Sequence[Tuple[str, object]], where) -> None:
    mapper = cfg.INPUT.DATASET_MAPPER_NAME
    for name, dataset in training:
        readers, known = task_mappers(dataset.task)
        if mapper in known and mapper not in readers:
            task = ("an " if dataset.task == "instance" else "a ") + dataset.task
            raise ConfigValueError(
                f"{MAPPER} = {mapper!r} ({where(MAPPER)}) cannot train on {name}, {task} "
                f"dataset ({dataset.description}): use {task} segmentation config, or "
                f"{MAPPER} {readers[0]}"
            )
