"""The registration functions of the shared dataset layouts (:mod:`mask2former.data.datasets
.layouts`), ``instance_metadata`` and the generated datasets' ``dataset_generator``, checked on
the generated shapes dataset against detectron2's own loaders."""

import json
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json, load_sem_seg

from mask2former.data.datasets import DatasetNotFoundError
from mask2former.data.datasets.catalog import (
    instance_metadata,
    load_categories,
    panoptic_metadata,
    semantic_metadata,
)
from mask2former.data.datasets.layouts import (
    register_coco_instances,
    register_panoptic_with_semantic,
    register_semantic,
)
from mask2former.data.shapes import dataset_generator

NAME = "test_layout_dataset"


@pytest.fixture
def name():
    yield NAME
    DatasetCatalog.remove(NAME)
    MetadataCatalog.remove(NAME)


def _metadata(name):
    meta = MetadataCatalog.get(name).as_dict()
    meta.pop("name")
    return meta


def test_semantic_records_are_detectron2s_and_metadata_complete(shapes_root, name):
    images = os.path.join(shapes_root, "shapes", "images", "val")
    labels = os.path.join(shapes_root, "shapes", "annotations_detectron2", "val")
    meta = semantic_metadata(load_categories("shapes"))
    register_semantic(name, images, labels, hint="Generate it", metadata=meta, ignore_label=7)
    assert DatasetCatalog.get(name) == load_sem_seg(labels, images, gt_ext="png", image_ext="jpg")
    assert _metadata(name) == {
        "image_root": images,
        "sem_seg_root": labels,
        "evaluator_type": "sem_seg",
        "ignore_label": 7,
        **meta,
    }


def test_semantic_missing_labels_name_the_folder_and_hint(tmp_path, name):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    register_semantic(name, str(images), str(labels), hint="Run prepare.py", metadata={})
    with pytest.raises(DatasetNotFoundError, match=f"missing {labels}. Run prepare.py"):
        DatasetCatalog.get(name)


def test_panoptic_records_metadata_and_required_files(shapes_root, tmp_path, name):
    base = os.path.join(shapes_root, "shapes")
    paths = [
        os.path.join(base, "images", "val"),
        os.path.join(base, "panoptic_val"),
        os.path.join(base, "panoptic_val.json"),
        os.path.join(base, "panoptic_semseg_val"),
    ]
    meta = panoptic_metadata(load_categories("shapes"))
    register_panoptic_with_semantic(
        name, *paths, json_file=None, evaluator_type="coco_panoptic_seg", hint="", metadata=meta
    )
    keys = ("image_root", "panoptic_root", "panoptic_json", "sem_seg_root")
    assert _metadata(name) == {
        **dict(zip(keys, paths)),
        "json_file": None,
        "evaluator_type": "coco_panoptic_seg",
        "ignore_label": 255,
        "label_divisor": 1000,
        **meta,
    }
    records = DatasetCatalog.get(name)
    with open(paths[2]) as f:
        annotations = json.load(f)["annotations"]
    assert [r["image_id"] for r in records] == [a["image_id"] for a in annotations]
    for record in records:
        for key, folder in (("file_name", 0), ("pan_seg_file_name", 1), ("sem_seg_file_name", 3)):
            assert os.path.dirname(record[key]) == paths[folder]
            assert os.path.isfile(record[key])
    missing = str(tmp_path / "panoptic.json")
    register_panoptic_with_semantic(
        name, *paths[:2], missing, paths[3], json_file=None, evaluator_type="", hint="", metadata={}
    )
    with pytest.raises(DatasetNotFoundError, match=f"missing {missing}"):
        DatasetCatalog.get(name)


def test_coco_instances_paths_win_over_the_metadata_given(shapes_root, name):
    images = os.path.join(shapes_root, "shapes", "images", "val")
    json_file = os.path.join(shapes_root, "shapes", "instances_val.json")
    things = [c for c in load_categories("shapes") if c["isthing"]]
    stale = {"image_root": "/elsewhere/images", "json_file": "/elsewhere/instances.json"}
    meta = {**stale, **instance_metadata(things)}
    register_coco_instances(name, images, json_file, hint="", metadata=meta)
    assert _metadata(name) == {
        **meta,
        "image_root": images,
        "json_file": json_file,
        "evaluator_type": "coco",
    }
    assert DatasetCatalog.get(name) == load_coco_json(json_file, images, name)
    register_coco_instances(
        name, images, json_file, hint="", metadata={"evaluator_type": "lvis", **meta}
    )
    assert MetadataCatalog.get(name).evaluator_type == "lvis"


def test_instance_metadata_colours_only_when_every_category_has_one():
    things = [{"id": 5, "name": "a", "color": [1, 2, 3]}, {"id": 9, "name": "b"}]
    assert instance_metadata(things) == {
        "thing_classes": ["a", "b"],
        "thing_dataset_id_to_contiguous_id": {5: 0, 9: 1},
    }
    things[1]["color"] = [4, 5, 6]
    assert instance_metadata(things)["thing_colors"] == [[1, 2, 3], [4, 5, 6]]


def test_dataset_generator_writes_each_split_once_per_arguments(tmp_path):
    calls = []

    def write_split(out, split, count, seed, categories):
        calls.append((out, split, count, seed, len(categories)))
        os.makedirs(os.path.join(out, split))

    generate = dataset_generator("made", ("a", "b"), write_split, 3, 2)
    assert "<root>/made" in generate.__doc__
    out = generate(str(tmp_path))
    assert out == str(tmp_path / "made")
    classes = len(load_categories("shapes"))
    assert calls == [(out, "a", 3, 0, classes), (out, "b", 2, 0, classes)]
    assert generate(str(tmp_path), 3, 2) == out and len(calls) == 2  # already there
    generate(str(tmp_path), 3, 2, seed=1)  # other arguments: written again, from scratch
    assert calls[2:] == [(out, "a", 3, 1, classes), (out, "b", 2, 1, classes)]
    generate(str(tmp_path), 3, 2, seed=1, overwrite=True)
    assert len(calls) == 6
