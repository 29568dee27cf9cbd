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

from helpers.custom_data import (
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
from mask2former.data.broken_samples import TooManyBrokenSamplesError
from mask2former.data.datasets import register_description
from mask2former.data.formats import DerivedFiles, pair_images_and_labels


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = user_dataset(tmp_path_factory.mktemp("user"))
    write_color_labels(folder)
    write_palette_labels(folder)
    return folder


def _labels_by_stem(name: str):
    return {
        os.path.splitext(os.path.basename(r["file_name"]))[0]: np.asarray(
            Image.open(r["sem_seg_file_name"])
        )
        for r in DatasetCatalog.get(name)
    }


FORMATS = {
    "index (L)": ("annotations_detectron2", ""),
    "index (P)": ("palette_labels", ""),
    "0 is ignore, shifted": ("annotations", "zero_is_ignore: true"),
    "colours": (
        "color_labels",
        "label_format: color\nignore_colors: [%s]\nclasses: [%s]"
        % (
            UNLABELED_COLOR,
            ", ".join(f"{{name: c{i}, color: {c}}}" for i, c in enumerate(SHAPES_COLORS)),
        ),
    ),
}


@pytest.mark.parametrize("label_format", sorted(FORMATS))
def test_every_semantic_format_gives_the_prepared_labels(shapes, label_format, tmp_path):
    folder, extra = FORMATS[label_format]
    text = semantic_description("fmt", folder, extra)
    if "classes: [{" in extra:  # the colour format lists its classes with their colours
        text = (
            "\n".join(line for line in text.splitlines() if not line.startswith('classes: ["'))
            + "\n"
        )
    path = write(
        os.path.join(shapes, "fmt.yaml"), text.replace("name: fmt", f"name: fmt\ncache: {tmp_path}")
    )
    register_description(path)
    for split in ("train", "val"):
        loaded = _labels_by_stem(f"fmt_{split}")
        expected = prepared_labels(shapes, split)
        assert sorted(loaded) == sorted(expected)
        for stem, labels in expected.items():
            assert np.array_equal(loaded[stem], labels), (label_format, split, stem)


def test_converted_labels_are_cached_and_rebuilt_when_a_label_changes(shapes, tmp_path, caplog):
    data = copy_shapes(shapes, tmp_path / "data")
    path = write(
        os.path.join(data, "shifted.yaml"),
        semantic_description("shifted", "annotations", "zero_is_ignore: true", ("val",)),
    )
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
    os.utime(
        source, ns=(built + 10**9, built + 10**9)
    )  # a later modification time, whatever the clock
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
    assert not [
        n for n in os.listdir(tmp_path / "cache" / "x") if n != "out.txt"
    ]  # no temporary left


def test_panoptic_semantic_labels_follow_the_annotations(shapes, tmp_path):
    data = copy_shapes(shapes, tmp_path / "data")
    path = os.path.join(data, "custom_panoptic.yaml")
    register_description(path)
    before = {
        os.path.basename(r["file_name"]): r for r in DatasetCatalog.get("custom_panoptic_val")
    }
    record = before["000001.jpg"]
    stuff = next(s for s in record["segments_info"] if not s["isthing"])
    old_class = stuff["category_id"]
    new_class = next(i for i in (4, 5, 6) if i != old_class)  # another stuff class
    panoptic_json = os.path.join(data, "panoptic_val.json")
    with open(panoptic_json) as f:
        coco = json.load(f)
    dataset_id = {4: 7, 5: 8, 6: 10}[new_class]
    annotation = next(a for a in coco["annotations"] if a["file_name"] == "000001.png")
    next(s for s in annotation["segments_info"] if s["id"] == stuff["id"])["category_id"] = (
        dataset_id
    )
    with open(panoptic_json, "w") as f:
        json.dump(coco, f)
    semantic_before = np.asarray(Image.open(record["sem_seg_file_name"]))
    after = {os.path.basename(r["file_name"]): r for r in DatasetCatalog.get("custom_panoptic_val")}
    semantic_after = np.asarray(Image.open(after["000001.jpg"]["sem_seg_file_name"]))
    changed = semantic_before != semantic_after
    assert (
        changed.any()
        and (semantic_before[changed] == old_class).all()
        and (semantic_after[changed] == new_class).all()
    )


def test_a_label_that_cannot_be_converted_is_left_out_and_too_many_stop(shapes, tmp_path, caplog):
    data = copy_shapes(shapes, tmp_path / "data")
    _, extra = FORMATS["colours"]
    text = semantic_description("colours", "color_labels", extra, ("train",))
    text = (
        "\n".join(line for line in text.splitlines() if not line.startswith('classes: ["')) + "\n"
    )
    path = write(os.path.join(data, "colours.yaml"), text)
    first = os.path.join(data, "color_labels", "train", "000001.png")
    rgb = np.asarray(Image.open(first)).copy()
    rgb[0, 0] = [1, 2, 3]
    Image.fromarray(rgb).save(first)
    register_description(path)
    with caplog.at_level(logging.WARNING):
        records = DatasetCatalog.get("colours_train")
    assert len(records) == 3
    assert (
        f"left out {os.path.join(data, 'images', 'train', '000001.jpg')}: {first}: colours that are no class's: [1, 2, 3] (1 px)"
        in caplog.text
    )
    second = os.path.join(data, "color_labels", "train", "000002.png")
    with open(second, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(
        TooManyBrokenSamplesError,
        match=r"2 of the 4 label files of .*colours.yaml train are broken",
    ):
        DatasetCatalog.get("colours_train")


def test_images_and_labels_are_matched_by_path_without_extension(tmp_path):
    for name in ("a.jpg", "sub/b.png", "c.jpg", "c.png", "d.jpg"):
        write(tmp_path / "images" / name, "")
    for name in ("a_mask.png", "sub/b_mask.png", "c_mask.png", "e_mask.png", "d.png"):
        write(tmp_path / "labels" / name, "")
    found = pair_images_and_labels(str(tmp_path / "images"), str(tmp_path / "labels"), "_mask")
    images, labels = tmp_path / "images", tmp_path / "labels"
    assert found.pairs == [
        (str(images / "a.jpg"), str(labels / "a_mask.png")),
        (str(images / "sub/b.png"), str(labels / "sub/b_mask.png")),
    ]
    assert found.duplicates == [[str(images / "c.jpg"), str(images / "c.png")]]
    assert found.images_without_label == [str(images / "d.jpg")]
    assert found.labels_without_image == [str(labels / "e_mask.png")]


def _brute_force(stored: np.ndarray, num_classes: int, ignore: int, zero_is_ignore: bool):
    """(labels, pixels per class, {stored value: pixels} of values that are neither a class
    nor the ignore label), pixel by pixel."""
    labels = np.empty(stored.shape, np.int64)
    pixels, invalid = [0] * num_classes, {}
    for (y, x), value in np.ndenumerate(stored):
        label = int(value)
        if zero_is_ignore:
            label = ignore if value == 0 else label - 1
        labels[y, x] = label
        if 0 <= label < num_classes:
            pixels[label] += 1
        elif label != ignore:
            invalid[int(value)] = invalid.get(int(value), 0) + 1
    return labels, pixels, invalid


@pytest.mark.parametrize("zero_is_ignore", [False, True])
@pytest.mark.parametrize(
    "mode, extension, low, high",
    [("L", ".png", 0, 256), ("I;16", ".png", 0, 1100), ("I", ".tif", -70000, 70000)],
)
def test_decoded_index_labels_count_classes_and_name_other_values(
    tmp_path, mode, extension, low, high, zero_is_ignore
):
    from mask2former.data.formats import SemanticLabelFormat

    rng = np.random.default_rng(3)
    stored = rng.integers(0, 9, (13, 17))  # mostly classes 0..6, some of 7, 8 (0..7 shifted)
    stored[rng.random(stored.shape) < 0.2] = 255
    stored[0, :4] = rng.integers(low, high, 4)
    path = str(tmp_path / f"label{extension}")
    dtype = {"L": np.uint8, "I;16": np.uint16, "I": np.int32}[mode]
    Image.fromarray(stored.astype(dtype)).save(path)
    assert Image.open(path).mode.startswith(mode[0])
    label_format = SemanticLabelFormat(
        num_classes=7, ignore_label=255, zero_is_ignore=zero_is_ignore
    )
    decoded = label_format.decode(path)
    labels, pixels, invalid = _brute_force(stored, 7, 255, zero_is_ignore)
    np.testing.assert_array_equal(decoded.labels, labels)
    assert decoded.class_pixels.tolist() == pixels
    assert decoded.invalid_values == invalid and invalid


def test_decoded_colour_labels_count_classes(tmp_path):
    from mask2former.data.formats import SemanticLabelFormat

    rng = np.random.default_rng(4)
    palette = np.array(SHAPES_COLORS + [UNLABELED_COLOR, [9, 9, 9]], np.uint8)
    index = rng.integers(0, len(palette), (11, 14))
    path = str(tmp_path / "colours.png")
    Image.fromarray(palette[index]).save(path)
    label_format = SemanticLabelFormat(
        num_classes=len(SHAPES_COLORS),
        colors=tuple(map(tuple, SHAPES_COLORS)),
        ignore_colors=(tuple(UNLABELED_COLOR),),
    )
    decoded = label_format.decode(path)
    expected = np.where(index < 7, index, np.where(index == 7, 255, -1))
    np.testing.assert_array_equal(decoded.labels, expected)
    assert decoded.class_pixels.tolist() == [int((index == k).sum()) for k in range(7)]
    assert decoded.unknown_colors == {(9, 9, 9): int((index == 8).sum())}
