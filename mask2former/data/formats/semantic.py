"""Semantic segmentation labels as users keep them: a folder of images and a folder of label
images, matched by file name without extension (sub-folders included), the labels holding

- class indices (PNG mode L or P, or 16 bits), the ignore value for unlabeled pixels, or with
  ``zero_is_ignore`` 0 for unlabeled pixels and class k stored as k + 1 (ADE20K's raw files);
- colours (RGB), one per class, and optionally colours of unlabeled pixels.

Labels that the model's mappers and evaluators cannot read as they are (colours, shifted
indices) are converted once into index PNGs in a cache folder (:class:`DerivedFiles`), which
the dataset's records then name.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..broken_samples import check_broken_fraction
from ..datasets.catalog import DatasetNotFoundError
from ..image_io import read_color_label, read_label_map
from .cache import CacheNotWritableError, DerivedFiles

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABEL_EXTENSIONS",
    "DecodedLabels",
    "LabelDecodeError",
    "SemanticLabelFormat",
    "SemanticPairs",
    "list_images",
    "load_semantic_records",
    "pair_images_and_labels",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LABEL_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp")

Color = Tuple[int, int, int]


class LabelDecodeError(ValueError):
    """A label file whose content cannot be turned into class indices."""


def _files_by_key(root: str, extensions: Sequence[str], suffix: str = ""):
    """{relative path without extension (and without ``suffix``): path} of the files under
    ``root`` with one of ``extensions`` (hidden folders skipped), and {key: [paths]} of keys
    that more than one file has."""
    found: Dict[str, List[str]] = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(names):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in extensions or name.startswith("."):
                continue
            if suffix:
                if not stem.endswith(suffix):
                    continue
                stem = stem[: -len(suffix)]
            key = os.path.relpath(os.path.join(folder, stem), root)
            found.setdefault(key, []).append(os.path.join(folder, name))
    unique = {key: paths[0] for key, paths in found.items() if len(paths) == 1}
    return unique, {key: paths for key, paths in found.items() if len(paths) > 1}


def list_images(root: str) -> List[str]:
    """The image files under ``root`` (sub-folders included, hidden ones not), sorted."""
    unique, duplicates = _files_by_key(root, IMAGE_EXTENSIONS)
    return sorted([*unique.values(), *(p for paths in duplicates.values() for p in paths)])


@dataclass
class SemanticPairs:
    """Images and label files of a split, matched by their path without extension."""

    pairs: List[Tuple[str, str]] = field(default_factory=list)  # (image, label), sorted
    images_without_label: List[str] = field(default_factory=list)
    labels_without_image: List[str] = field(default_factory=list)
    duplicates: List[List[str]] = field(default_factory=list)  # files sharing one name


def pair_images_and_labels(
    image_root: str, label_root: str, label_suffix: str = ""
) -> SemanticPairs:
    """Match the images under ``image_root`` with the labels under ``label_root`` (a label is
    named like its image plus ``label_suffix``, with a label extension)."""
    images, image_duplicates = _files_by_key(image_root, IMAGE_EXTENSIONS)
    labels, label_duplicates = _files_by_key(label_root, LABEL_EXTENSIONS, label_suffix)
    ambiguous = set(image_duplicates) | set(label_duplicates)
    return SemanticPairs(
        pairs=[
            (images[k], labels[k]) for k in sorted(images) if k in labels and k not in ambiguous
        ],
        images_without_label=[
            images[k] for k in sorted(images) if k not in labels and k not in ambiguous
        ],
        labels_without_image=[
            labels[k] for k in sorted(labels) if k not in images and k not in ambiguous
        ],
        duplicates=[paths for _, paths in sorted({**image_duplicates, **label_duplicates}.items())],
    )


@dataclass
class DecodedLabels:
    """A label file read as class indices: ``labels`` (H, W) int64, 0..K-1 or the ignore
    label; ``class_pixels`` (K,) the pixels of each class; what was neither, as stored in the
    file: ``invalid_values`` {value: pixels} (index labels) and ``unknown_colors``
    {(r, g, b): pixels} (colour labels; those pixels are -1)."""

    labels: np.ndarray
    class_pixels: np.ndarray
    invalid_values: Dict[int, int] = field(default_factory=dict)
    unknown_colors: Dict[Color, int] = field(default_factory=dict)


def _counts(values: np.ndarray) -> Dict[int, int]:
    unique, counts = np.unique(values, return_counts=True)
    return dict(zip(unique.tolist(), counts.tolist()))


@dataclass(frozen=True)
class SemanticLabelFormat:
    """How a dataset's label files store its ``num_classes`` classes (see the module doc).
    ``colors`` (one per class) makes it the colour format."""

    num_classes: int
    ignore_label: int = 255
    zero_is_ignore: bool = False
    colors: Optional[Tuple[Color, ...]] = None
    ignore_colors: Tuple[Color, ...] = ()

    @property
    def needs_conversion(self) -> bool:
        """Whether the files must be converted for the mappers and evaluators."""
        return self.colors is not None or self.zero_is_ignore

    def recipe(self) -> dict:
        """What a converted file depends on besides its source (for :class:`DerivedFiles`)."""
        return {"format": "semantic-index-png", "version": 1, **self.__dict__}

    def _decode_colors(self, path: str) -> DecodedLabels:
        rgb = read_color_label(path).astype(np.int64)
        codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        palette = [(c, i) for i, c in enumerate(self.colors)] + [
            (c, self.ignore_label) for c in self.ignore_colors
        ]
        palette_codes = np.array([(r << 16) | (g << 8) | b for (r, g, b), _ in palette], np.int64)
        order = np.argsort(palette_codes)
        sorted_codes = palette_codes[order]
        sorted_values = np.array([v for _, v in palette], np.int64)[order]
        position = np.searchsorted(sorted_codes, codes).clip(max=len(sorted_codes) - 1)
        known = sorted_codes[position] == codes
        labels = np.where(known, sorted_values[position], -1)
        unknown = {}
        if not known.all():
            unknown = {
                ((code >> 16) & 255, (code >> 8) & 255, code & 255): count
                for code, count in _counts(codes[~known]).items()
            }
        classes = labels[(labels >= 0) & (labels < self.num_classes)]
        return DecodedLabels(
            labels, np.bincount(classes, minlength=self.num_classes), unknown_colors=unknown
        )

    def decode(self, path: str) -> DecodedLabels:
        """Read ``path`` as class indices. Raises FileNotFoundError, ImageReadError (an
        unreadable file or one of the wrong kind: colours where indices are expected or the
        reverse)."""
        if self.colors is not None:
            return self._decode_colors(path)
        stored = read_label_map(path)
        if stored.size and (stored.min() < 0 or stored.max() > 65535):  # 32-bit images
            values, inverse, pixels = np.unique(stored, return_inverse=True, return_counts=True)
            inverse = inverse.reshape(stored.shape)
        else:  # 8 or 16 bits: counting per possible value is faster than sorting
            pixels = np.bincount(stored.ravel())
            values, inverse = np.arange(len(pixels)), stored
        # per stored value: what it stands for
        meaning = (
            np.where(values == 0, self.ignore_label, values - 1) if self.zero_is_ignore else values
        )
        is_class = (meaning >= 0) & (meaning < self.num_classes)
        invalid = np.flatnonzero((pixels > 0) & ~is_class & (meaning != self.ignore_label))
        return DecodedLabels(
            meaning[inverse] if self.zero_is_ignore else stored,
            np.bincount(
                meaning[is_class], weights=pixels[is_class], minlength=self.num_classes
            ).astype(np.int64),
            invalid_values={int(values[i]): int(pixels[i]) for i in invalid},
        )

    def convert(self, source: str, destination: str) -> None:
        """Write ``source`` as an index PNG (8 bits, or 16 when the values need it).

        Raises:
            LabelDecodeError: colours that are no class's.
        """
        decoded = self.decode(source)
        if decoded.unknown_colors:
            shown = ", ".join(
                f"{list(c)} ({n} px)" for c, n in list(decoded.unknown_colors.items())[:4]
            )
            raise LabelDecodeError(f"{source}: colours that are no class's: {shown}")
        wide = max(self.num_classes - 1, self.ignore_label) > 255
        labels = decoded.labels.astype(np.uint16 if wide else np.uint8)
        Image.fromarray(labels).save(destination, format="PNG")


def load_semantic_records(
    image_root: str,
    label_root: str,
    label_format: SemanticLabelFormat,
    cache_folder: str,
    label_suffix: str = "",
    source: str = "",
) -> List[dict]:
    """Records of a semantic split, as Detectron2's ``load_sem_seg`` gives them
    (``file_name``, ``sem_seg_file_name``), for every image that has a label. Labels are
    converted into ``cache_folder`` when ``label_format.needs_conversion``; a label that
    cannot be converted is left out with a warning (training stops if too many are).
    ``source`` names the split in messages (e.g. "my_data.yaml train")."""
    found = pair_images_and_labels(image_root, label_root, label_suffix)
    for files, what in (
        (found.images_without_label, f"images without a label in {label_root} (left out)"),
        (found.labels_without_image, f"labels without an image in {image_root} (left out)"),
        (
            [" / ".join(paths) for paths in found.duplicates],
            "names shared by several files (left out)",
        ),
    ):
        if files:
            logger.warning(f"{source}: {len(files)} {what}, e.g. {files[0]}")
    if not found.pairs:
        raise DatasetNotFoundError(
            f"{source}: no image of {image_root} has a label in {label_root} (an image and its "
            f"label have the same path without extension, the label's ending in "
            f"{label_suffix or 'nothing more'}{' and ' if label_suffix else ', '}"
            f"{'/'.join(LABEL_EXTENSIONS)})"
        )
    if not label_format.needs_conversion:
        return [{"file_name": image, "sem_seg_file_name": label} for image, label in found.pairs]
    records, broken = [], {}
    recipe = label_format.recipe()
    with DerivedFiles(cache_folder) as cache:
        for image, label in found.pairs:
            name = os.path.splitext(os.path.relpath(image, image_root))[0] + ".png"
            try:
                converted = cache.get(
                    name, [label], recipe, lambda out, s=label: label_format.convert(s, out)
                )
            except CacheNotWritableError:
                raise
            except (OSError, ValueError) as e:
                broken[label] = str(e)
                logger.warning(f"{source}: left out {image}: {e}")
                continue
            records.append({"file_name": image, "sem_seg_file_name": converted})
        if cache.built:
            logger.info(f"{source}: converted {cache.built} label files into {cache_folder}")
    check_broken_fraction(broken, len(found.pairs), f"label files of {source}")
    return records
