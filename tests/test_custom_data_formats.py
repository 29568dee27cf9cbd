"""The label formats users keep their data in, read by the real loaders: semantic labels as
class indices (L and P PNGs), shifted indices and colours all give the prepared labels; files
derived from labels are cached and rebuilt when their inputs change; a label that cannot be
converted is left out, too many stop the loading."""
import json
import logging
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog
from PIL import Image

from mask2former.data.broken_samples import TooManyBrokenSamplesError
from mask2former.data.datasets import register_description
from mask2former.data.formats import DerivedFiles, pair_images_and_labels

from custom_data_helpers import (
    SHAPES_COLORS,
    UNLABELED_COLOR,
    copy_shapes,
    prepared_labels,
    semantic_description,
    user_dataset,
    write,
    write_color_labels,
    write_palette_labels,
)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = user_dataset(tmp_path_factory.mktemp("user"))
    write_color_labels(folder)
    write_palette_labels(folder)
    return folder


def _labels_by_stem(name: str):
    return {
        os.path.splitext(os.path.basename(r["file_name"]))[0]: np.asarray(Image.open(r["sem_seg_file_name"]))
        for r in DatasetCatalog.get(name)
    }


FORMATS = {
    "index (L)": ("annotations_detectron2", ""),
    "index (P)": ("palette_labels", ""),
    "0 is ignore, shifted": ("annotations", "zero_is_ignore: true"),
    "colours": (
        "color_labels",
        "label_format: color\nignore_colors: [%s]\nclasses: [%s]"
        % (UNLABELED_COLOR, ", ".join(f"{{name: c{i}, color: {c}}}" for i, c in enumerate(SHAPES_COLORS))),
    ),
}


@pytest.mark.parametrize("label_format", sorted(FORMATS))
def test_every_semantic_format_gives_the_prepared_labels(shapes, label_format, tmp_path):
    folder, extra = FORMATS[label_format]
    text = semantic_description("fmt", folder, extra)
    if "classes: [{" in extra:  # the colour format lists its classes with their colours
        text = "\n".join(line for line in text.splitlines() if not line.startswith("classes: [\"")) + "\n"
    path = write(os.path.join(shapes, "fmt.yaml"), text.replace("name: fmt", f"name: fmt\ncache: {tmp_path}"))
    register_description(path)
    for split in ("train", "val"):
        loaded = _labels_by_stem(f"fmt_{split}")
        expected = prepared_labels(shapes, split)
        assert sorted(loaded) == sorted(expected)
        for stem, labels in expected.items():
            assert np.array_equal(loaded[stem], labels), (label_format, split, stem)


def test_converted_labels_are_cached_and_rebuilt_when_a_label_changes(shapes, tmp_path, caplog):
    data = copy_shapes(shapes, tmp_path / "data")
    path = write(os.path.join(data, "shifted.yaml"), semantic_description("shifted", "annotations", "zero_is_ignore: true", ("val",)))
    register_description(path)
    with caplog.at_level(logging.INFO):
        first = DatasetCatalog.get("shifted_val")
    assert "converted 2 label files" in caplog.text
    converted = first[0]["sem_seg_file_name"]
    built = os.stat(converted).st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert DatasetCatalog.get("shifted_val") == first
    assert "converted" not in caplog.text and os.stat(converted).st_mtime_ns == built

    source = os.path.join(data, "annotations", "val", "000001.png")
    raw = np.asarray(Image.open(source)).copy()
    raw[:4, :4] = 1  # now class 0 there
    Image.fromarray(raw).save(source)
    os.utime(source, ns=(built + 10**9, built + 10**9))  # a later modification time, whatever the clock
    caplog.clear()
    with caplog.at_level(logging.INFO):
        DatasetCatalog.get("shifted_val")
    assert "converted 1 label files" in caplog.text
    assert (np.asarray(Image.open(converted))[:4, :4] == 0).all()


def test_derived_file_is_rebuilt_when_its_recipe_changes(tmp_path):
    source = write(tmp_path / "in.txt", "a")
    calls = []

    def build(out):
        calls.append(out)
        write(out, "built")

    for recipe in ("r1", "r1", "r2"):
        with DerivedFiles(str(tmp_path / "cache")) as cache:
            target = cache.get("x/out.txt", [source], recipe, build)
    assert len(calls) == 2 and open(target).read() == "built"
    assert not [n for n in os.listdir(tmp_path / "cache" / "x") if n != "out.txt"]  # no temporary left


def test_panoptic_semantic_labels_follow_the_annotations(shapes, tmp_path):
    data = copy_shapes(shapes, tmp_path / "data")
    path = os.path.join(data, "custom_panoptic.yaml")
    register_description(path)
    before = {os.path.basename(r["file_name"]): r for r in DatasetCatalog.get("custom_panoptic_val")}
    record = before["000001.jpg"]
    stuff = next(s for s in record["segments_info"] if not s["isthing"])
    old_class = stuff["category_id"]
    new_class = next(i for i in (4, 5, 6) if i != old_class)  # another stuff class
    panoptic_json = os.path.join(data, "panoptic_val.json")
    with open(panoptic_json) as f:
        coco = json.load(f)
    dataset_id = {4: 7, 5: 8, 6: 10}[new_class]
    annotation = next(a for a in coco["annotations"] if a["file_name"] == "000001.png")
    next(s for s in annotation["segments_info"] if s["id"] == stuff["id"])["category_id"] = dataset_id
    with open(panoptic_json, "w") as f:
        json.dump(coco, f)
    semantic_before = np.asarray(Image.open(record["sem_seg_file_name"]))
    after = {os.path.basename(r["file_name"]): r for r in DatasetCatalog.get("custom_panoptic_val")}
    semantic_after = np.asarray(Image.open(after["000001.jpg"]["sem_seg_file_name"]))
    changed = semantic_before != semantic_after
    assert changed.any() and (semantic_before[changed] == old_class).all() and (semantic_after[changed] == new_class).all()


def test_a_label_that_cannot_be_converted_is_left_out_and_too_many_stop(shapes, tmp_path, caplog):
    data = copy_shapes(shapes, tmp_path / "data")
    _, extra = FORMATS["colours"]
    text = semantic_description("colours", "color_labels", extra, ("train",))
    text = "\n".join(line for line in text.splitlines() if not line.startswith("classes: [\"")) + "\n"
    path = write(os.path.join(data, "colours.yaml"), text)
    first = os.path.join(data, "color_labels", "train", "000001.png")
    rgb = np.asarray(Image.open(first)).copy()
    rgb[0, 0] = [1, 2, 3]
    Image.fromarray(rgb).save(first)
    register_description(path)
    with caplog.at_level(logging.WARNING):
        records = DatasetCatalog.get("colours_train")
    assert len(records) == 3
    assert f"left out {os.path.join(data, 'images', 'train', '000001.jpg')}: {first}: colours that are no class's: [1, 2, 3] (1 px)" in caplog.text
    second = os.path.join(data, "color_labels", "train", "000002.png")
    with open(second, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(TooManyBrokenSamplesError, match=r"2 of the 4 label files of .*colours.yaml train are broken"):
        DatasetCatalog.get("colours_train")


def test_images_and_labels_are_matched_by_path_without_extension(tmp_path):
    for name in ("a.jpg", "sub/b.png", "c.jpg", "c.png", "d.jpg"):
        write(tmp_path / "images" / name, "")
    for name in ("a_mask.png", "sub/b_mask.png", "c_mask.png", "e_mask.png", "d.png"):
        write(tmp_path / "labels" / name, "")
    found = pair_images_and_labels(str(tmp_path / "images"), str(tmp_path / "labels"), "_mask")
    images, labels = tmp_path / "images", tmp_path / "labels"
    assert found.pairs == [(str(images / "a.jpg"), str(labels / "a_mask.png")), (str(images / "sub/b.png"), str(labels / "sub/b_mask.png"))]
    assert found.duplicates == [[str(images / "c.jpg"), str(images / "c.png")]]
    assert found.images_without_label == [str(images / "d.jpg")]
    assert found.labels_without_image == [str(labels / "e_mask.png")]
