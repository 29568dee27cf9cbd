"""tools/check_dataset.py: every broken input of a described dataset is named with what is wrong
and where; per split, a table of the classes; pictures of samples with their ground truth;
exit status 1 on errors, 0 with warnings only, 2 for a description that is not valid."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from helpers.custom_data import (
    SHAPES_CLASSES,
    SHAPES_COLORS,
    copy_shapes,
    prepared_labels,
    user_dataset,
    write,
    write_color_labels,
)
from helpers.scripts import load_script
from mask2former.cli import run_cli


@pytest.fixture(scope="module")
def tool():
    return load_script("tools/check_dataset.py", "check_dataset_tool")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return user_dataset(tmp_path_factory.mktemp("user"))


@pytest.fixture
def broken(shapes, tmp_path):
    """A copy of the dataset to break files in."""
    return copy_shapes(shapes, tmp_path / "data")


def check(tool, capsys, description, output, *args):
    """(exit status, stdout, stderr) of the tool."""
    capsys.readouterr()
    status = run_cli(
        tool.main,
        [str(description), "--output", str(output), "--workers", "1", *args],
        prog="check_dataset.py",
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("task", ["semantic", "instance", "panoptic"])
def test_clean_dataset_passes_with_tables_and_pictures(tool, shapes, tmp_path, capsys, task):
    status, out, _ = check(
        tool,
        capsys,
        os.path.join(shapes, f"custom_{task}.yaml"),
        tmp_path / "out",
        "--workers",
        "2",
    )
    assert status == 0, out
    unit = {"semantic": "pixels", "instance": "instances", "panoptic": "segments"}[task]
    assert f"== train: 4 images ({unit} per class), 0 errors, 0 warnings" in out
    assert "| circle " in out and "| star " in out
    assert "0 errors, 0 warnings" in out.splitlines()[-2]
    assert sorted(os.listdir(tmp_path / "out" / "train")) == [
        "00_000001.jpg",
        "01_000002.jpg",
        "02_000003.jpg",
        "03_000004.jpg",
    ]
    picture = np.asarray(Image.open(tmp_path / "out" / "val" / "00_000001.jpg"))
    image = np.asarray(Image.open(os.path.join(shapes, "images", "val", "000001.jpg")))
    assert picture.shape == (image.shape[0], 2 * image.shape[1], 3)  # the image | its ground truth
    assert np.abs(picture[:, image.shape[1] :].astype(int) - image).mean() > 5  # something is drawn
    assert open(tmp_path / "out" / "report.txt").read() == ""
    if task == "semantic":  # the tables' pixels and images per class, counted here
        for split, table in zip(("train", "val"), out.split("\n== ")[1:]):
            labels = prepared_labels(shapes, split).values()
            for index, name in enumerate(SHAPES_CLASSES):
                counts = [int((label == index).sum()) for label in labels]
                row = f"| {name:<8} | {sum(c > 0 for c in counts):>8} | {sum(counts):>8} |"
                assert row in table, (row, table)


def _label(path) -> np.ndarray:
    return np.asarray(Image.open(path)).copy()


def test_broken_semantic_files_are_named(tool, broken, tmp_path, capsys):
    images, labels = (
        os.path.join(broken, "images", "train"),
        os.path.join(broken, "annotations", "train"),
    )
    with open(os.path.join(images, "000001.jpg"), "r+b") as f:
        f.truncate(300)
    small = Image.fromarray(_label(os.path.join(labels, "000002.png"))[:50, :60])
    small.save(os.path.join(labels, "000002.png"))
    values = _label(os.path.join(labels, "000003.png"))
    values[:2, :5] = 8  # class 7 of 7 (0 to 6), stored + 1
    values[2, :3] = 20
    Image.fromarray(values).save(os.path.join(labels, "000003.png"))
    Image.fromarray(values).save(os.path.join(labels, "000099.png"))
    Image.open(os.path.join(images, "000004.jpg")).save(os.path.join(images, "000004.png"))
    Image.open(os.path.join(broken, "images", "val", "000001.jpg")).save(
        os.path.join(broken, "images", "val", "000009.jpg")
    )
    description = os.path.join(broken, "custom_semantic.yaml")

    status, out, _ = check(tool, capsys, description, tmp_path / "out")
    assert status == 1
    lines = out.splitlines()
    truncated = (
        f"ERROR [train] {images}/000001.jpg: Cannot decode image file (corrupt or truncated?): "
    )
    assert any(line.startswith(truncated) for line in lines)
    assert (
        f"ERROR [train] {labels}/000002.png: the label is 60x50 (WxH) but its image {images}/000002.jpg is "
        in out
    )
    assert (
        f"ERROR [train] {labels}/000003.png: values 8 (10 px), 20 (3 px) are neither a class (0 to 6, "
        "stored + 1) nor the ignore label 255" in out
    )
    assert f"ERROR [train] {labels}/000099.png: no image of that name in {images}" in out
    assert f"ERROR [train] {images}/000004.jpg: shares its name with {images}/000004.png" in out
    assert (
        f"WARNING [val] {broken}/images/val/000009.jpg: no label of that name in {broken}/annotations/val: left out"
        in out
    )
    assert (
        "== train: 3 images (pixels per class), 5 errors, " in out
    )  # 000004: two images, not checked
    report = open(tmp_path / "out" / "report.txt").read().splitlines()
    assert sorted(report) == sorted(line for line in lines if line.startswith(("ERROR", "WARNING")))


def test_hint_for_labels_numbered_from_one(tool, broken, tmp_path, capsys):
    description = write(
        os.path.join(broken, "plain.yaml"),
        open(os.path.join(broken, "custom_semantic.yaml"))
        .read()
        .replace("zero_is_ignore: true\n", ""),
    )
    status, out, _ = check(tool, capsys, description, tmp_path / "out")
    assert status == 1
    assert "(classes stored from 1 with 0 for unlabeled pixels? set zero_is_ignore: true)" in out


def test_colours_not_in_the_palette_are_named(tool, broken, tmp_path, capsys):
    folder = write_color_labels(broken)
    classes = ", ".join(f"{{name: {n}, color: {c}}}" for n, c in zip(SHAPES_CLASSES, SHAPES_COLORS))
    description = write(
        os.path.join(broken, "colours.yaml"),
        f"""task: semantic
label_format: color
ignore_colors: [[0, 0, 0]]
classes: [{classes}]
splits:
  val: {{image_root: images/val, sem_seg_root: {folder}/val}}
""",
    )
    label = os.path.join(broken, folder, "val", "000002.png")
    rgb = _label(label)
    rgb[:3, :3] = [9, 9, 9]
    Image.fromarray(rgb).save(label)
    jpeg = os.path.join(broken, folder, "val", "000001.png")
    Image.open(jpeg).save(jpeg + ".jpg", quality=50)
    Image.open(jpeg + ".jpg").save(jpeg)  # a colour label that went through JPEG
    os.remove(jpeg + ".jpg")
    status, out, _ = check(tool, capsys, description, tmp_path / "out")
    assert status == 1
    assert f"ERROR [val] {label}: 1 colours are no class's: [9, 9, 9] (9 px)" in out
    assert (
        f"ERROR [val] {jpeg}: " in out
        and "(many colours: a JPEG or smoothed label? save colour labels as PNG" in out
    )


def test_broken_coco_instance_files_are_named(tool, broken, tmp_path, capsys):
    json_file = os.path.join(broken, "instances_train.json")
    with open(json_file) as f:
        coco = json.load(f)
    annotations = coco["annotations"]
    annotations[0]["category_id"] = 99
    annotations[1]["bbox"][2] = 0
    annotations[2]["bbox"][0] = 1000
    del annotations[3]["area"]
    coco["images"][1]["file_name"] = "missing.jpg"
    coco["images"][2]["height"] += 1
    coco["images"][3]["file_name"] = coco["images"][0]["file_name"]
    with open(json_file, "w") as f:
        json.dump(coco, f)
    status, out, _ = check(
        tool, capsys, os.path.join(broken, "custom_instance.yaml"), tmp_path / "out"
    )
    assert status == 1
    where = f"{json_file} (annotation {{}}, image {{}})"
    a = annotations
    assert (
        f"ERROR [train] {where.format(a[0]['id'], a[0]['image_id'])}: category_id 99 is no class's"
        in out
    )
    assert (
        f"ERROR [train] {where.format(a[1]['id'], a[1]['image_id'])}: bbox {a[1]['bbox']} has no area"
        in out
    )
    assert (
        f"ERROR [train] {where.format(a[2]['id'], a[2]['image_id'])}: bbox {a[2]['bbox']} lies outside the"
        in out
    )
    assert (
        f"WARNING [train] {where.format(a[3]['id'], a[3]['image_id'])}: no 'area': COCO evaluation of this file needs it"
        in out
    )
    images = os.path.join(broken, "images", "train")
    assert f"ERROR [train] {images}/missing.jpg: the image does not exist" in out
    assert f"ERROR [train] {images}/{coco['images'][2]['file_name']}: {json_file} says" in out
    assert (
        f"ERROR [train] {json_file}: several images are named '{coco['images'][0]['file_name']}'"
        in out
    )


def test_broken_coco_panoptic_files_are_named(tool, broken, tmp_path, capsys):
    json_file = os.path.join(broken, "panoptic_val.json")
    with open(json_file) as f:
        coco = json.load(f)
    first, second = coco["annotations"][:2]
    dropped = first["segments_info"].pop()
    second["segments_info"][0]["category_id"] = 42
    coco["annotations"].append(dict(second, image_id=77))
    with open(json_file, "w") as f:
        json.dump(coco, f)
    os.remove(os.path.join(broken, "panoptic_val", second["file_name"]))
    status, out, _ = check(
        tool, capsys, os.path.join(broken, "custom_panoptic.yaml"), tmp_path / "out"
    )
    assert status == 1
    pngs = os.path.join(broken, "panoptic_val")
    assert (
        f"ERROR [val] {pngs}/{first['file_name']}: segment ids [{dropped['id']}] of the PNG have no entry in segments_info of {json_file}"
        in out
    )
    assert (
        f"ERROR [val] {pngs}/{second['file_name']}: named by {json_file} but does not exist" in out
    )
    assert (
        f"ERROR [val] {json_file}: {second['file_name']}: image_id 77 is not among the images"
        in out
    )


def test_empty_split_is_an_error_and_warnings_alone_pass(tool, broken, tmp_path, capsys):
    os.makedirs(os.path.join(broken, "images", "none"))
    os.makedirs(os.path.join(broken, "labels", "none"))
    text = open(os.path.join(broken, "custom_semantic.yaml")).read()
    empty = write(
        os.path.join(broken, "empty.yaml"),
        text + "  test: {image_root: images/none, sem_seg_root: labels/none}\n",
    )
    status, out, _ = check(tool, capsys, empty, tmp_path / "out")
    assert (
        status == 1
        and f"ERROR [test] {broken}/images/none: splits.test has no labelled image" in out
    )
    os.remove(os.path.join(broken, "annotations", "val", "000002.png"))
    status, out, _ = check(
        tool, capsys, os.path.join(broken, "custom_semantic.yaml"), tmp_path / "out2"
    )
    assert (
        status == 0 and "WARNING [val]" in out and "0 errors, 2 warnings" in out
    )  # and a class unseen


def test_invalid_description_is_one_line(tool, tmp_path, capsys):
    description = write(tmp_path / "d.yaml", "task: semantics\n")
    status, out, err = check(tool, capsys, description, tmp_path / "out")
    assert status == 2 and out == ""
    assert (
        err
        == f"check_dataset.py: error: {description}: task: expected one of semantic, instance, panoptic, got 'semantics'\n"
    )
