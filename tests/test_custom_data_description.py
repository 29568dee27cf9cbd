"""Dataset description files: a described dataset is registered with the records and metadata
of the built-in registration of the same data, and every mistake in a description is one line
naming the file and the key."""

import json
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from helpers.custom_data import SHAPES_CLASSES, semantic_description, write
from mask2former.data.datasets import (
    DescriptionError,
    load_categories,
    register_description,
)
from mask2former.data.datasets.description import (
    described_dataset,
    register_description_entry,
)

SHAPES = load_categories("shapes")


@pytest.fixture
def shapes(shapes_root):
    """The folder of the generated shapes dataset."""
    return shapes_root / "shapes"


def _register(folder, name: str, task: str, splits: dict, classes: str = "") -> str:
    """Writes the description ``folder/name.yaml`` of a ``task`` dataset with these ``classes``
    (a YAML list) and ``splits`` ({split: {key: path}}), registers it and returns its path."""
    lines = [f"task: {task}"] + ([f"classes: {classes}"] if classes else []) + ["splits:"]
    for split, keys in splits.items():
        lines.append(f"  {split}: {{{', '.join(f'{k}: {v}' for k, v in keys.items())}}}")
    path = write(os.path.join(folder, f"{name}.yaml"), "\n".join(lines) + "\n")
    register_description(path)
    return path


def _metadata(name: str) -> dict:
    metadata = MetadataCatalog.get(name).as_dict()
    metadata.pop("name")
    return metadata


def test_semantic_split_is_the_builtin_registration(shapes, tmp_path):
    classes = json.dumps([{"name": c["name"], "color": c["color"]} for c in SHAPES])
    train = dict(
        image_root=shapes / "images/train", sem_seg_root=shapes / "annotations_detectron2/train"
    )
    path = _register(tmp_path, "mine", "semantic", {"train": train}, classes)
    assert DatasetCatalog.get("mine_train") == DatasetCatalog.get("shapes_sem_seg_train")
    # the dataset ids of a semantic description are its label values (shapes.json has others)
    identity = {i: i for i in range(7)}
    assert _metadata("mine_train") == dict(
        _metadata("shapes_sem_seg_train"),
        description_file=path,
        stuff_dataset_id_to_contiguous_id=identity,
    )
    assert described_dataset("mine_train").num_classes == 7


def test_instance_split_is_the_builtin_registration(shapes, tmp_path):
    val = dict(image_root=shapes / "images/val", json_file=shapes / "instances_val.json")
    path = _register(tmp_path, "mine", "instance", {"val": val})
    # Detectron2's load_coco_json maps the non-contiguous ids (1, 2, 3, 5) as the file's order
    assert DatasetCatalog.get("mine_val") == DatasetCatalog.get("shapes_instance_val")
    assert _metadata("mine_val") == dict(_metadata("shapes_instance_val"), description_file=path)


def test_panoptic_split_is_the_builtin_registration_with_derived_labels(shapes, tmp_path):
    val = dict(
        image_root=shapes / "images/val",
        panoptic_json=shapes / "panoptic_val.json",
        panoptic_root=shapes / "panoptic_val",
    )
    path = _register(tmp_path, "mine", "panoptic", {"val": val})
    mine, builtin = DatasetCatalog.get("mine_val"), DatasetCatalog.get("shapes_panoptic_val")
    assert len(mine) == len(builtin) == 4
    for ours, theirs in zip(mine, builtin):
        # the generator wrote its semantic labels with the same preparation code the script runs
        reference = np.asarray(Image.open(theirs.pop("sem_seg_file_name")))
        assert np.array_equal(np.asarray(Image.open(ours.pop("sem_seg_file_name"))), reference)
        assert ours == theirs
    cache = str(tmp_path / ".mask2former-cache" / "mine" / "val")
    derived = {
        "sem_seg_root": os.path.join(cache, "sem_seg"),
        "json_file": os.path.join(cache, "instances.json"),
    }
    assert _metadata("mine_val") == dict(
        _metadata("shapes_panoptic_val"), description_file=path, **derived
    )
    # the derived instance file holds the things of the generator's own instance file
    with open(derived["json_file"]) as f, open(shapes / "instances_val.json") as g:
        ours, theirs = json.load(f), json.load(g)

    def key(a):
        return a["image_id"], a["category_id"], a["area"], a["iscrowd"], tuple(a["bbox"])

    assert sorted(map(key, ours["annotations"])) == sorted(map(key, theirs["annotations"]))
    assert ours["categories"] == [{"id": c["id"], "name": c["name"]} for c in theirs["categories"]]


def test_classes_given_in_another_order_are_matched_by_name(shapes, tmp_path):
    train = dict(image_root=shapes / "images/train", json_file=shapes / "instances_train.json")
    classes = "[star, {name: circle, color: [1, 2, 3]}, triangle, square]"
    _register(tmp_path, "reordered", "instance", {"train": train}, classes)
    metadata = MetadataCatalog.get("reordered_train")
    assert metadata.thing_classes == ["star", "circle", "triangle", "square"]
    assert metadata.thing_dataset_id_to_contiguous_id == {5: 0, 1: 1, 3: 2, 2: 3}
    assert metadata.thing_colors[1] == [1, 2, 3]
    with open(shapes / "instances_train.json") as f:
        coco = json.load(f)
    name_of = {c["id"]: c["name"] for c in coco["categories"]}
    theirs = sorted(
        (a["image_id"], name_of[a["category_id"]], json.dumps(a["segmentation"]))
        for a in coco["annotations"]
    )
    ours = sorted(
        (r["image_id"], metadata.thing_classes[a["category_id"]], json.dumps(a["segmentation"]))
        for r in DatasetCatalog.get("reordered_train")
        for a in r["annotations"]
    )
    assert ours == theirs  # every annotation, its mask (polygons and RLE) as in the file


def test_split_without_labels_lists_its_images(shapes, tmp_path):
    test = dict(image_root=shapes / "images/val")
    _register(tmp_path, "unlabelled", "semantic", {"test": test}, json.dumps(SHAPES_CLASSES))
    records = DatasetCatalog.get("unlabelled_test")
    assert [os.path.basename(r["file_name"]) for r in records] == [
        f"00000{i}.jpg" for i in range(1, 5)
    ]
    metadata = MetadataCatalog.get("unlabelled_test")
    assert metadata.stuff_classes == SHAPES_CLASSES and metadata.get("evaluator_type") is None


def test_config_entry_is_registered_as_its_split(shapes, tmp_path):
    write(
        tmp_path / "d" / "x.yaml",
        semantic_description("x", "annotations_detectron2")
        .replace("images/", f"{shapes}/images/")
        .replace("annotations_detectron2/", f"{shapes}/annotations_detectron2/"),
    )
    register_description_entry("d/x.yaml:val", str(tmp_path))
    assert DatasetCatalog.get("d/x.yaml:val") == DatasetCatalog.get("x_val")
    assert _metadata("d/x.yaml:val") == _metadata("x_val")
    with pytest.raises(
        DescriptionError,
        match=r"d/x.yaml:tset: .*x.yaml has no split 'tset'; its splits: train, val",
    ):
        register_description_entry("d/x.yaml:tset", str(tmp_path))


def test_missing_folders_are_named_when_the_dataset_is_used(tmp_path):
    path = write(tmp_path / "gone.yaml", semantic_description("gone", "labels"))
    register_description(path)  # registration reads no image: the config may name it anyway
    from mask2former.data.datasets import DatasetNotFoundError, check_datasets

    with pytest.raises(
        DatasetNotFoundError,
        match=rf"missing {tmp_path}/images/train, {tmp_path}/labels/train\. Fix the paths in {path}",
    ):
        check_datasets(["gone_train"], "DATASETS.TRAIN")


SPLIT = "splits: {train: {image_root: i, sem_seg_root: l}}\n"  # a labelled semantic split
BAD = {
    "unknown key": ("task: semantic\nclases: [a]\n", "unknown keys ['clases']"),
    "task": (
        "task: detection\n",
        "task: expected one of semantic, instance, panoptic, got 'detection'",
    ),
    "semantic without classes": (
        "task: semantic\nsplits: {train: {image_root: i}}\n",
        "classes: a semantic dataset lists its classes",
    ),
    "repeated class": (
        "task: semantic\nclasses: [a, b, a]\n",
        "classes: names given more than once: a",
    ),
    "class key": (
        "task: semantic\nclasses: [{name: a, colour: [1, 2, 3]}]\n",
        "classes[0]: unknown keys ['colour']",
    ),
    "colour": (
        "task: semantic\nclasses: [{name: a, color: [1, 2]}]\n",
        "classes[0].color: expected a colour [r, g, b]",
    ),
    "colour format without colours": (
        "task: semantic\nlabel_format: color\nclasses: [a, {name: b, color: [1, 2, 3]}]\n" + SPLIT,
        "label_format color needs the colour of every class; none for a",
    ),
    "same colour twice": (
        "task: semantic\nlabel_format: color\nclasses: [{name: a, color: [1, 2, 3]}]\nignore_colors: [[1, 2, 3]]\n"
        + SPLIT,
        "colours given to more than one class",
    ),
    "ignore label is a class": (
        "task: semantic\nignore_label: 1\nclasses: [a, b]\n" + SPLIT,
        "ignore_label: 1 is the index of class 'b'",
    ),
    "thing in semantic": (
        "task: semantic\nclasses: [{name: a, thing: true}]\n" + SPLIT,
        "'thing' is for instance and panoptic datasets",
    ),
    "semantic key in instance": (
        "task: instance\nzero_is_ignore: true\n",
        "zero_is_ignore: is for semantic label images",
    ),
    "split without images": (
        "task: instance\nsplits: {train: {json_file: a.json}}\n",
        "splits.train: expected {image_root: ..., json_file: ...}",
    ),
    "split key of another task": (
        "task: instance\n" + SPLIT,
        "unknown keys ['sem_seg_root'] for a instance dataset",
    ),
    "half the panoptic labels": (
        "task: panoptic\nsplits: {train: {image_root: i, panoptic_json: p.json}}\n",
        "needs panoptic_json and panoptic_root",
    ),
    "same folder": (
        "task: semantic\nclasses: [a]\nsplits: {train: {image_root: x, sem_seg_root: x}}\n",
        "must be different folders",
    ),
    "name of a builtin": (
        "name: shapes_sem_seg\ntask: semantic\nclasses: [a]\n" + SPLIT,
        "'shapes_sem_seg_train' is a dataset of its own already",
    ),
    "not a mapping": ("- a\n", "expected a mapping with task, classes and splits"),
    "not YAML": ("task: [semantic\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_mistakes_are_named(tmp_path, case):
    text, message = BAD[case]
    path = write(tmp_path / "d.yaml", text)
    with pytest.raises(DescriptionError) as info:
        register_description(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_missing_description_file(tmp_path):
    with pytest.raises(DescriptionError, match="dataset description .*nothing.yaml does not exist"):
        register_description(str(tmp_path / "nothing.yaml"))


def test_panoptic_classes_must_say_which_are_things(shapes, tmp_path):
    with open(shapes / "panoptic_val.json") as f:
        data = json.load(f)
    for c in data["categories"]:
        del c["isthing"]
    write(tmp_path / "p.json", json.dumps(data))
    path = write(
        tmp_path / "p.yaml",
        "task: panoptic\nsplits: {val: {image_root: i, panoptic_json: p.json, panoptic_root: p}}\n",
    )
    with pytest.raises(
        DescriptionError, match="'circle': a panoptic dataset says which classes are things"
    ):
        register_description(path)
    with open(path, "a") as f:
        f.write(
            "classes: ["
            + ", ".join(
                f"{{name: {c['name']}, thing: {str(c['id'] < 7).lower()}}}"
                for c in data["categories"]
            )
            + "]\n"
        )
    register_description(path)
    assert MetadataCatalog.get("p_val").thing_classes == ["circle", "square", "triangle", "star"]


def test_categories_of_the_file_must_be_classes(shapes, tmp_path):
    path = write(
        tmp_path / "q.yaml",
        f"task: instance\nclasses: [circle, square]\nsplits: {{val: {{image_root: {shapes}/images/val, json_file: {shapes}/instances_val.json}}}}\n",
    )
    with pytest.raises(
        DescriptionError,
        match=r"instances_val.json: category 'triangle' \(id 3\) is not among the classes of .*q.yaml \(circle, square\): add it",
    ):
        register_description(path)
