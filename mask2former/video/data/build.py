"""Data loaders of video datasets: detectron2's loaders, fed whole-video records."""

import itertools
import logging
from typing import List, Sequence

from detectron2.data import (
    DatasetCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
)

from .dataset_mapper import YTVISDatasetMapper

__all__ = ["video_dataset_dicts", "build_video_train_loader", "build_video_test_loader"]

logger = logging.getLogger(__name__)


def _has_objects(record) -> bool:
    return any(not obj.get("iscrowd", 0) for frame in record["annotations"] for obj in frame)


def video_dataset_dicts(names: Sequence[str], filter_empty: bool = False) -> List[dict]:
    """The records of the video datasets ``names``, concatenated; with ``filter_empty``,
    without the videos that have no non-crowd object in any frame (DATALOADER.
    FILTER_EMPTY_ANNOTATIONS; detectron2's own filter reads per-image annotations)."""
    records = []
    for name in names:
        dataset = DatasetCatalog.get(name)
        if not dataset:
            raise ValueError(f"dataset {name!r} is empty")
        records.append(dataset)
    records = list(itertools.chain.from_iterable(records))
    if filter_empty and records and "annotations" in records[0]:
        kept = [r for r in records if _has_objects(r)]
        logger.info(f"Removed {len(records) - len(kept)} videos without objects; {len(kept)} left")
        records = kept
    if not records:
        raise ValueError(f"no video with objects in {list(names)}")
    return records


def build_video_train_loader(cfg):
    """Clips of DATASETS.TRAIN, SOLVER.IMS_PER_BATCH clips per batch."""
    dataset = video_dataset_dicts(cfg.DATASETS.TRAIN, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    return build_detection_train_loader(
        cfg, mapper=YTVISDatasetMapper(cfg, is_train=True), dataset=dataset
    )


def build_video_test_loader(cfg, dataset_name: str):
    """Whole videos of ``dataset_name``, one per batch."""
    return build_detection_test_loader(
        dataset=video_dataset_dicts([dataset_name]),
        mapper=YTVISDatasetMapper(cfg, is_train=False),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
