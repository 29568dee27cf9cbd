"""The tests' pytest fixtures: seeds, the tiny configs, generated and registered datasets. Plain
helpers live in tests/helpers/."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.configs import make_tiny_cfg

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_cfg():
    """Mask2Former, tiny."""
    return make_tiny_cfg()


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    """An empty $DETECTRON2_DATASETS for tests that build their own miniature trees."""
    root = tmp_path / "datasets"
    root.mkdir()
    monkeypatch.setenv("DETECTRON2_DATASETS", str(root))
    return root


@pytest.fixture
def sem_seg_dataset(tmp_path):
    """``register(name, label_maps, classes)`` registers a semantic dataset named ``name`` of
    the ground truths ``label_maps`` ({stem: (H, W) array}, saved as <stem>.png in tmp_path,
    their images <stem>.jpg never read), these ``classes`` and ignore label 255, and returns its
    records; the datasets are removed after the test."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from PIL import Image

    registered = []

    def register(name, label_maps, classes):
        records = []
        for stem, labels in label_maps.items():
            path = tmp_path / f"{stem}.png"
            Image.fromarray(labels.astype(np.uint8)).save(path)
            height, width = labels.shape
            records.append(
                {
                    "file_name": str(tmp_path / f"{stem}.jpg"),
                    "sem_seg_file_name": str(path),
                    "height": height,
                    "width": width,
                }
            )
        DatasetCatalog.register(name, lambda: records)
        MetadataCatalog.get(name).set(
            stuff_classes=list(classes), ignore_label=255, evaluator_type="sem_seg"
        )
        registered.append(name)
        return records

    yield register
    for name in registered:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.fixture(scope="session")
def _shapes_dataset(tmp_path_factory):
    from mask2former.data.shapes import generate

    root = tmp_path_factory.mktemp("shapes_datasets")
    generate(str(root), num_train=8, num_val=4)
    return root


@pytest.fixture
def shapes_root(_shapes_dataset):
    """A datasets root holding a small generated "shapes" dataset (8 train / 4 val images,
    generated once per session) in ``<root>/shapes``; the ``shapes_*`` datasets are
    (re-)registered to it for each test, since other tests may re-root the registrations."""
    from mask2former.data.datasets import register_all_shapes

    register_all_shapes(str(_shapes_dataset))
    return _shapes_dataset


@pytest.fixture(scope="session")
def _shapes_videos(tmp_path_factory):
    from mask2former.data.shapes_video import generate_videos

    videos = generate_videos(str(tmp_path_factory.mktemp("video_datasets")), num_train=6, num_val=3)
    return Path(videos).parent  # the datasets root


@pytest.fixture
def shapes_videos(_shapes_videos):
    """A datasets root holding generated "shapes" videos (6 train / 3 val, generated once per
    session) in ``<root>/shapes_video``; the ``shapes_video_*`` datasets are registered to it
    for the test, and back to $DETECTRON2_DATASETS after it."""
    from mask2former.data.datasets import datasets_root as configured_datasets_root
    from mask2former.video.data import register_all_video

    register_all_video(str(_shapes_videos))
    yield _shapes_videos
    register_all_video(configured_datasets_root())
