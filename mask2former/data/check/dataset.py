"""Check every file that a dataset description names, before training finds out."""

import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..datasets.description import (
    DatasetDescription,
    Split,
    read_description,
    semantic_label_format,
    split_categories,
)
from ..formats import CocoFileError, list_images, pair_images_and_labels, read_coco_json
from .files import (
    check_image,
    check_instance_image,
    check_panoptic_annotation,
    check_semantic_pair,
)
from .pictures import draw_ground_truth
from .report import ERROR, WARNING, Finding, SplitReport

__all__ = ["DatasetCheck", "check_dataset"]

_UNITS = {"semantic": "pixels", "instance": "instances", "panoptic": "segments"}


@dataclass
class DatasetCheck:
    """The result of :func:`check_dataset`."""

    description: DatasetDescription
    class_names: List[str]
    splits: List[SplitReport] = field(default_factory=list)
    pictures: List[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images(self) -> int:
        return sum(s.images for s in self.splits)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.splits)

    @property
    def warnings(self) -> int:
        return sum(s.warnings for s in self.splits)


def _map(function: Callable, tasks: List[tuple], workers: int) -> List:
    if workers <= 1 or len(tasks) < 2:
        return [function(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(function, tasks, chunksize=max(1, min(64, len(tasks) // (4 * workers))))
        )


def _repeated(values: List) -> List:
    return sorted((v for v, n in Counter(values).items() if n > 1), key=str)


def _semantic_tasks(
    description: DatasetDescription, split: Split, report: SplitReport
) -> List[tuple]:
    label_root = split.labels["sem_seg_root"]
    found = pair_images_and_labels(split.image_root, label_root, description.label_suffix)
    for paths in found.duplicates:
        report.findings.append(
            Finding(
                ERROR,
                "files of the same name",
                paths[0],
                f"shares its name with {', '.join(paths[1:])}",
            )
        )
    for label in found.labels_without_image:
        report.findings.append(
            Finding(
                ERROR,
                "label without an image",
                label,
                f"no image of that name in {split.image_root}",
            )
        )
    for image in found.images_without_label:
        report.findings.append(
            Finding(
                WARNING,
                "image without a label",
                image,
                f"no label of that name in {label_root}: left out",
            )
        )
    label_format = semantic_label_format(description)
    return [(image, label, label_format) for image, label in found.pairs]


def _coco_file(report: SplitReport, json_file: str, keys) -> Optional[dict]:
    try:
        data = read_coco_json(json_file)
    except (FileNotFoundError, CocoFileError) as e:
        report.findings.append(
            Finding(ERROR, "unreadable COCO file", json_file, str(e).replace(f"{json_file}: ", ""))
        )
        return None
    for key in keys:
        if not isinstance(data.get(key), list):
            report.findings.append(
                Finding(ERROR, "unreadable COCO file", json_file, f"no list of {key!r}")
            )
            return None
    return data


def _coco_annotations(
    report: SplitReport, json_file: str, unique_key: str, kind: str, message: str
) -> Optional[Tuple[Dict, Dict[object, List[dict]]]]:
    """The COCO file's images by id and annotations by image id (None when the file is
    unreadable). Reported: repeated image ids and file names, annotations of no image (left
    out), and annotations that repeat the value of ``unique_key`` (``kind``, ``message``
    formatted with the value)."""
    data = _coco_file(report, json_file, ("images", "annotations"))
    if data is None:
        return None
    for image_id in _repeated([i.get("id") for i in data["images"]]):
        report.findings.append(
            Finding(
                ERROR,
                "repeated image id",
                json_file,
                f"image id {image_id!r} is given to several images",
            )
        )
    for name in _repeated([i.get("file_name") for i in data["images"]]):
        report.findings.append(
            Finding(
                ERROR, "files of the same name", json_file, f"several images are named {name!r}"
            )
        )
    for value in _repeated([a.get(unique_key) for a in data["annotations"]]):
        report.findings.append(Finding(ERROR, kind, json_file, message.format(value)))
    images = {i.get("id"): i for i in data["images"]}
    by_image = defaultdict(list)
    for annotation in data["annotations"]:
        image_id = annotation.get("image_id")
        if image_id in images:
            by_image[image_id].append(annotation)
        else:
            name = annotation.get("file_name") or f"annotation {annotation.get('id')}"
            report.findings.append(
                Finding(
                    ERROR,
                    "annotation of no image",
                    json_file,
                    f"{name}: image_id {image_id!r} is not among the images",
                )
            )
    return images, by_image


# per COCO task: the split's file, and the key that no two annotations share (what repeating it is)
_COCO_FILES = {
    "instance": (
        "json_file",
        "id",
        "repeated annotation id",
        "annotation id {!r} is used more than once",
    ),
    "panoptic": (
        "panoptic_json",
        "file_name",
        "files of the same name",
        "several annotations name the PNG {!r}",
    ),
}


def _coco_tasks(
    task: str, split: Split, report: SplitReport, id_map: Dict[int, int]
) -> List[tuple]:
    """The checks of each image of an instance split (the image, its annotations) or of each
    annotation of a panoptic split (the image, its PNG)."""
    key, *unique = _COCO_FILES[task]
    json_file = split.labels[key]
    found = _coco_annotations(report, json_file, *unique)
    if found is None:
        return []
    images, by_image = found
    if task == "instance":
        return [
            (
                os.path.join(split.image_root, info.get("file_name", "")),
                info,
                by_image[image_id],
                id_map,
                json_file,
            )
            for image_id, info in images.items()
        ]
    tasks = []
    for image_id, info in images.items():
        if not by_image[image_id]:
            report.findings.append(
                Finding(
                    WARNING,
                    "image without a label",
                    json_file,
                    f"image {info.get('file_name')!r} has no annotation: left out",
                )
            )
        for annotation in by_image[image_id]:
            png = os.path.join(split.labels["panoptic_root"], annotation.get("file_name", ""))
            tasks.append(
                (
                    os.path.join(split.image_root, info.get("file_name", "")),
                    png,
                    annotation,
                    id_map,
                    json_file,
                )
            )
    return tasks


def _check_split(
    description: DatasetDescription, split: Split, categories: List[dict], workers: int
) -> Tuple[SplitReport, List[tuple]]:
    task = description.task if split.labels else None
    report = SplitReport(split.name, _UNITS[task] if task else None)
    missing = [p for p in [split.image_root, *split.labels.values()] if not os.path.exists(p)]
    if missing:
        for path in missing:
            report.findings.append(
                Finding(
                    ERROR,
                    "missing folder or file",
                    path,
                    f"named by splits.{split.name} of {description.path} but does not exist",
                )
            )
        return report, []
    id_map = {c["id"]: i for i, c in enumerate(categories)}
    if task is None:
        tasks, check = [(image,) for image in list_images(split.image_root)], check_image
    elif task == "semantic":
        tasks, check = _semantic_tasks(description, split, report), check_semantic_pair
    else:
        check = check_instance_image if task == "instance" else check_panoptic_annotation
        tasks = _coco_tasks(task, split, report, id_map)
    results = _map(check, tasks, workers)
    for result in results:
        report.add(result)
    if not tasks:
        report.findings.append(
            Finding(
                ERROR,
                "empty split",
                split.image_root,
                f"splits.{split.name} has no {'labelled ' if task else ''}image",
            )
        )
    elif task:
        unseen = [c["name"] for i, c in enumerate(categories) if not report.counts[i]]
        if unseen:
            report.findings.append(
                Finding(
                    WARNING,
                    "classes never seen",
                    split.image_root,
                    f"no {report.unit} of {', '.join(unseen)}",
                )
            )
    drawable = [
        t for t, r in zip(tasks, results) if not any(f.severity == ERROR for f in r.findings)
    ]
    return report, drawable


def check_dataset(
    path: str, *, workers: int = 1, pictures: int = 0, output: Optional[str] = None
) -> DatasetCheck:
    """Check the description file ``path`` and every file it names (see ``tools/check_dataset.py``):
    each split's images and labels, with ``workers`` processes; draw the ground truth of
    ``pictures`` samples of each split into ``output/<split>/``.

    Raises:
        DescriptionError: the description itself is not valid.
    """
    start = time.perf_counter()
    description = read_description(path)
    check = None
    for split in description.splits.values():
        categories = split_categories(description, split)
        if check is None:
            check = DatasetCheck(description, [c["name"] for c in categories])
        report, drawable = _check_split(description, split, categories, workers)
        check.splits.append(report)
        if pictures and output and drawable and report.unit:
            chosen = sorted(
                {int(i) for i in np.linspace(0, len(drawable) - 1, min(pictures, len(drawable)))}
            )
            for number, index in enumerate(chosen):
                stem = os.path.splitext(os.path.basename(drawable[index][0]))[0]
                target = os.path.join(output, split.name, f"{number:02d}_{stem}.jpg")
                check.pictures.append(
                    draw_ground_truth(description.task, drawable[index], categories, target)
                )
    check.seconds = time.perf_counter() - start
    return check
