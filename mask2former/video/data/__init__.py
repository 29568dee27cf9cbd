"""Video data: YouTube-VIS format datasets (registered on import under $DETECTRON2_DATASETS),
the video dataset mapper, clip augmentations and the data loaders."""

from ...data.datasets.catalog import datasets_root
from .build import build_video_test_loader, build_video_train_loader, video_dataset_dicts
from .dataset_mapper import YTVISDatasetMapper, sample_clip_frames
from .ytvis import (
    load_ytvis_json,
    register_all_ytvis,
    register_shapes_video,
    register_ytvis_instances,
)

__all__ = [
    "YTVISDatasetMapper",
    "build_video_test_loader",
    "build_video_train_loader",
    "load_ytvis_json",
    "register_all_video",
    "register_ytvis_instances",
    "sample_clip_frames",
    "video_dataset_dicts",
]


def register_all_video(root: str) -> None:
    """(Re-)register every video dataset with ``root`` as the datasets folder."""
    register_all_ytvis(root)
    register_shapes_video(root)


register_all_video(datasets_root())
