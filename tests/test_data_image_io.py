"""Robust input: corrupt / truncated / grayscale / RGBA / 16-bit / EXIF-rotated images and
mismatched label sizes are handled or rejected with the file's name."""

import numpy as np
import pytest
from detectron2.data.detection_utils import read_image
from PIL import Image

from helpers.configs import make_tiny_cfg
from mask2former.data import build_dataset_mapper
from mask2former.data.image_io import (
    ImageReadError,
    read_image_checked,
    read_label_map,
    read_panoptic_png,
)


def _rgb(h=20, w=30, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_and_bgr_order(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_rgb()).save(path)
    rgb = read_image_checked(str(path), "RGB")
    assert rgb.dtype == np.uint8 and np.array_equal(rgb, _rgb())
    assert np.array_equal(read_image_checked(str(path), "BGR"), rgb[..., ::-1])


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_image_checked(str(path))


def test_corrupt_file_is_named(tmp_path):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"this is not an image" * 10)
    with pytest.raises(ImageReadError, match="garbage.jpg"):
        read_image_checked(str(path))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_named(tmp_path, fmt):
    full = tmp_path / "full.img"
    Image.fromarray(_rgb(64, 64)).save(full, format=fmt)
    data = full.read_bytes()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=f"cut.{fmt.lower()}"):
        read_image_checked(str(path))


def test_grayscale_becomes_three_channels(tmp_path):
    gray = _rgb()[..., 0]
    path = tmp_path / "g.png"
    Image.fromarray(gray).save(path)
    out = read_image_checked(str(path), "BGR")
    assert out.shape == (20, 30, 3)
    for c in range(3):
        assert np.array_equal(out[..., c], gray)


def test_rgba_is_composited_on_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3] = 255  # opaque
    rgba[1, 1, 3] = 0  # transparent
    rgba[2, 2, 3] = 128
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = read_image_checked(str(path), "RGB")
    assert out.shape == (4, 4, 3)
    assert (out[0, 0] == 200).all() and (out[1, 1] == 0).all()
    assert 95 <= out[2, 2, 0] <= 105


def test_16bit_png_is_scaled_to_8bit(tmp_path):
    values = np.array([[0, 257 * 100], [65535, 257 * 255 - 1]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    out = read_image_checked(str(path), "RGB")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[..., 0].tolist() == [[0, 100], [255, 255]]


def test_16bit_color_png_is_scaled_to_8bit(tmp_path):
    import cv2

    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[0, 0] = (65535, 257 * 100, 0)
    cv2.imwrite(str(tmp_path / "deep_rgb.png"), bgr)  # 48-bit PNG
    out = read_image_checked(str(tmp_path / "deep_rgb.png"), "BGR")
    assert out.dtype == np.uint8 and out[0, 0].tolist() == [255, 100, 0]


def test_exif_rotated_jpeg_matches_detectron2(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:5, :5] = 255  # white top-left corner in the stored orientation
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    image.save(path, exif=exif, quality=100)
    out = read_image_checked(str(path), "RGB")
    assert out.shape == (40, 20, 3)  # displayed upright
    assert out[:5, -5:].mean() > 200  # the corner moved to the top right
    assert np.array_equal(out, read_image(str(path), "RGB"))


def test_label_maps(tmp_path):
    deep = np.array([[0, 1000], [847, 65535]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert read_label_map(str(tmp_path / "deep.png")).tolist() == deep.tolist()
    Image.fromarray(_rgb()).save(tmp_path / "color.png")
    with pytest.raises(ImageReadError, match="color.png.*single-channel"):
        read_label_map(str(tmp_path / "color.png"))
    Image.fromarray(_rgb()[..., 0]).save(tmp_path / "gray.png")
    with pytest.raises(ImageReadError, match="gray.png.*RGB"):
        read_panoptic_png(str(tmp_path / "gray.png"))


def _map_semantic(image, label):
    """The semantic mapper of the tiny config on the record of the files ``image`` and
    ``label``."""
    cfg = make_tiny_cfg()
    cfg.INPUT.DATASET_MAPPER_NAME = "mask_former_semantic"
    return build_dataset_mapper(cfg)({"file_name": str(image), "sem_seg_file_name": str(label)})


def test_mapper_rejects_label_of_other_size(tmp_path):
    Image.fromarray(_rgb(20, 30)).save(tmp_path / "img.png")
    Image.fromarray(np.zeros((21, 30), np.uint8)).save(tmp_path / "lbl.png")
    with pytest.raises(ValueError, match="lbl.png.*img.png"):
        _map_semantic(tmp_path / "img.png", tmp_path / "lbl.png")


def test_mapper_names_corrupt_image(tmp_path):
    (tmp_path / "img.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "lbl.png")
    with pytest.raises(ImageReadError, match="img.jpg"):
        _map_semantic(tmp_path / "img.jpg", tmp_path / "lbl.png")
