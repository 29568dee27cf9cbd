"""Reading images and label maps with errors that name the offending file.

``read_image_checked`` is the one place where the project decodes input images (dataset
mappers and the demo use it). On top of :func:`detectron2.data.detection_utils.read_image`
semantics (EXIF orientation applied, output in the requested format) it turns every
decoding failure into an :class:`ImageReadError` naming the file, and normalises the
pixel types that appear in the wild: grayscale, palette, alpha and 16-bit/float images
all become 8-bit 3-channel arrays.
"""

import numpy as np
from detectron2.data.detection_utils import convert_PIL_to_numpy
from detectron2.utils.file_io import PathManager
from panopticapi.utils import rgb2id
from PIL import Image, ImageOps

__all__ = [
    "ImageReadError",
    "read_image_checked",
    "read_label_map",
    "read_color_label",
    "read_panoptic_png",
    "check_same_size",
]

# PIL modes holding one channel of more than 8 bits per pixel.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageReadError(OSError):
    """An image or label file that exists but cannot be decoded."""


def _open(path: str) -> Image.Image:
    try:
        with PathManager.open(path, "rb") as f:
            image = Image.open(f)
            image.load()  # decode now, so truncated files fail here with their name
    except FileNotFoundError:
        raise FileNotFoundError(f"Image file not found: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"Cannot decode image file {path} (corrupt or truncated?): {e}") from e
    return image


def _wide_to_8bit(image: Image.Image) -> Image.Image:
    """Scale a >8-bit single-channel image to 8 bits: 16-bit integers by 1/257 (65535 -> 255),
    floats are assumed to lie in [0, 1]."""
    array = np.asarray(image)
    if image.mode == "F":
        array = np.clip(array, 0.0, 1.0) * 255.0
    else:
        array = array.astype(np.float64) / 257.0
    return Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8), mode="L")


def read_image_checked(path: str, format: str = "BGR") -> np.ndarray:
    """Read an image file as an (H, W, C) uint8 array in ``format``.

    Args:
        path: image file.
        format: "BGR", "RGB" (3 channels) or "L" (1 channel), as in detectron2's ``read_image``.
    Raises:
        FileNotFoundError / ImageReadError: naming ``path``.
    """
    image = ImageOps.exif_transpose(_open(path))
    if image.mode in _WIDE_MODES:
        image = _wide_to_8bit(image)
    if format in ("BGR", "RGB", "YCbCr") and image.mode in ("RGBA", "LA", "PA"):
        # composite on black rather than keep a 4th channel
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    array = convert_PIL_to_numpy(image, format)
    if array.ndim != 3:
        raise ImageReadError(f"Unexpected image shape {array.shape} read from {path}")
    return array


def read_label_map(path: str) -> np.ndarray:
    """Read a single-channel label PNG/TIFF (8 or 16 bit, palette allowed) as (H, W) int64,
    keeping the stored values (palette indices for "P" images)."""
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        raise ImageReadError(
            f"Label map {path} has PIL mode {image.mode!r}; expected a single-channel "
            "8- or 16-bit image (L, P or I;16) holding class ids"
        )
    return np.asarray(image).astype(np.int64)


def read_color_label(path: str) -> np.ndarray:
    """Read a label image that stores classes as colours (RGB, RGBA or palette PNG) as an
    (H, W, 3) uint8 RGB array; the alpha channel, if any, is dropped."""
    image = _open(path)
    if image.mode not in ("RGB", "RGBA", "P", "PA"):
        raise ImageReadError(
            f"Colour label {path} has PIL mode {image.mode!r}; expected an RGB (or palette) "
            "image whose colours are the classes'"
        )
    return np.asarray(image.convert("RGB"))


def read_panoptic_png(path: str) -> np.ndarray:
    """Read a COCO-panoptic RGB PNG as an (H, W) int64 map of segment ids (R + 256 G + 256^2 B)."""
    image = _open(path)
    if image.mode != "RGB":
        raise ImageReadError(
            f"Panoptic annotation {path} has PIL mode {image.mode!r}; expected an RGB PNG "
            "encoding segment ids as R + 256*G + 256^2*B"
        )
    return rgb2id(np.asarray(image)).astype(np.int64)


def check_same_size(label: np.ndarray, label_path: str, image: np.ndarray, image_path: str):
    """Return ``label``; raise ValueError naming both files when it and the image differ in size."""
    if label.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"Size mismatch: label {label_path} is {label.shape[1]}x{label.shape[0]} (WxH) but "
            f"image {image_path} is {image.shape[1]}x{image.shape[0]}"
        )
    return label
