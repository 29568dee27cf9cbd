"""Checks of one image and its labels, run in worker processes: each takes a tuple of
picklable arguments and returns a :class:`FileResult`."""

from typing import Dict, List, Optional, Tuple

import numpy as np
import pycocotools.mask as mask_util

from ..formats import SemanticLabelFormat
from ..image_io import ImageReadError, read_image_checked, read_panoptic_png
from .report import FileResult

__all__ = [
    "check_image",
    "check_instance_image",
    "check_panoptic_annotation",
    "check_semantic_pair",
]

# how far (pixels) a box or polygon may reach outside its image before it is reported
_TOLERANCE = 1.0


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def _read_image(result: FileResult, path: str) -> Optional[np.ndarray]:
    try:
        return read_image_checked(path, "RGB")
    except FileNotFoundError:
        result.error("missing image", path, "the image does not exist")
    except ImageReadError as e:
        result.error("unreadable image", path, str(e).replace(f" {path}", ""))
    return None


def check_image(args: Tuple[str]) -> FileResult:
    """An image of a split without labels: readable."""
    result = FileResult()
    _read_image(result, args[0])
    return result


def _values(counts: Dict, limit: int = 6) -> str:
    """'7 (120 px), 9 (3 px)' of the most frequent entries of ``counts``."""
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    more = f" and {len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(f"{list(k) if isinstance(k, tuple) else k} ({n} px)" for k, n in top) + more


def check_semantic_pair(args: Tuple[str, str, SemanticLabelFormat]) -> FileResult:
    """An image and its semantic label file: both readable, the same size, every label value a
    class or the ignore label (every colour a class's or an ignore colour)."""
    image_path, label_path, label_format = args
    result = FileResult()
    image = _read_image(result, image_path)
    try:
        decoded = label_format.decode(label_path)
    except FileNotFoundError:
        result.error("missing label", label_path, "the label file does not exist")
        return result
    except ImageReadError as e:
        hint = (
            "; colour labels: set label_format: color and the colour of every class"
            if label_format.colors is None
            else "; class indices: set label_format: index"
        )
        result.error("unreadable label", label_path, str(e).replace(f" {label_path}", "") + hint)
        return result
    labels, num_classes = decoded.labels, label_format.num_classes
    if image is not None and labels.shape != image.shape[:2]:
        result.error(
            "size mismatch",
            label_path,
            f"the label is {_size(labels)} (WxH) but its image {image_path} is {_size(image)}",
        )
    if decoded.invalid_values:
        hint = ""
        if not label_format.zero_is_ignore and num_classes in decoded.invalid_values:
            hint = " (classes stored from 1 with 0 for unlabeled pixels? set zero_is_ignore: true)"
        result.error(
            "label values that are no class",
            label_path,
            f"values {_values(decoded.invalid_values)} are neither a class (0 to {num_classes - 1}"
            f"{', stored + 1' if label_format.zero_is_ignore else ''}) nor the ignore label "
            f"{label_format.ignore_label}{hint}",
        )
    if decoded.unknown_colors:
        hint = ""
        if len(decoded.unknown_colors) > 10:
            hint = " (many colours: a JPEG or smoothed label? save colour labels as PNG, without anti-aliasing)"
        result.error(
            "colours not in the palette",
            label_path,
            f"{len(decoded.unknown_colors)} colours are no class's: {_values(decoded.unknown_colors, 4)}{hint}",
        )
    for index, count in enumerate(decoded.class_pixels.tolist()):
        if count:
            result.counts[index] += count
    return result


def _box_problems(result: FileResult, where: str, box, width: int, height: int) -> None:
    if not (
        isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
    ):
        result.error("invalid box", where, f"bbox {box!r} is not [x, y, width, height]")
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        result.error("zero-area box", where, f"bbox {box} has no area")
    elif x >= width or y >= height or x + w <= 0 or y + h <= 0:
        result.error(
            "box outside the image", where, f"bbox {box} lies outside the {width}x{height} image"
        )
    elif (
        x < -_TOLERANCE
        or y < -_TOLERANCE
        or x + w > width + _TOLERANCE
        or y + h > height + _TOLERANCE
    ):
        result.warning(
            "box partly outside the image",
            where,
            f"bbox {box} reaches outside the {width}x{height} image",
        )


def _mask_area(
    result: FileResult, where: str, segmentation, width: int, height: int
) -> Optional[int]:
    """The area of a polygon or RLE segmentation, None (reported) when it is not valid."""
    if isinstance(segmentation, list):
        polygons = [
            p for p in segmentation if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
        ]
        if len(polygons) < len(segmentation):
            result.warning(
                "invalid polygon",
                where,
                "polygons need an even number of coordinates, at least 6; the others are left out",
            )
        if not polygons:
            return None
        coords = np.concatenate([np.asarray(p, np.float64) for p in polygons])
        xs, ys = coords[0::2], coords[1::2]
        if (
            xs.min() < -_TOLERANCE
            or ys.min() < -_TOLERANCE
            or xs.max() > width + _TOLERANCE
            or ys.max() > height + _TOLERANCE
        ):
            result.warning(
                "mask partly outside the image",
                where,
                f"polygon points lie outside the {width}x{height} image",
            )
        rles = mask_util.frPyObjects(polygons, height, width)
        return int(mask_util.area(mask_util.merge(rles)))
    if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            result.error(
                "mask of another size",
                where,
                f"RLE size {segmentation['size']} (height, width) but the image is {height}x{width} (HxW)",
            )
            return None
        rle = segmentation
        if isinstance(rle["counts"], list):
            rle = mask_util.frPyObjects(rle, height, width)
        return int(mask_util.area(rle))
    result.error("invalid mask", where, "segmentation is neither polygons nor RLE")
    return None


def check_instance_image(args: Tuple[str, dict, List[dict], Dict[int, int], str]) -> FileResult:
    """An image of a COCO instance file and its annotations: the image readable and of the
    size the file says; every annotation of a known category, with a box and a mask that
    have an area inside the image."""
    image_path, image_info, annotations, id_map, json_file = args
    result = FileResult()
    image = _read_image(result, image_path)
    width, height = image_info.get("width"), image_info.get("height")
    if image is not None and (width, height) != (image.shape[1], image.shape[0]):
        result.error(
            "size mismatch",
            image_path,
            f"{json_file} says {width}x{height} (WxH) but the image is {_size(image)}",
        )
    if image is not None:
        height, width = image.shape[:2]
    elif not (isinstance(width, int) and isinstance(height, int)):
        result.error(
            "no image size", image_path, f"{json_file} gives the image no width and height"
        )
        return result
    for annotation in annotations:
        where = f"{json_file} (annotation {annotation.get('id')}, image {image_info['id']})"
        category = annotation.get("category_id")
        if category not in id_map:
            result.error("unknown category", where, f"category_id {category!r} is no class's")
            continue
        _box_problems(result, where, annotation.get("bbox"), width, height)
        if "segmentation" not in annotation:
            result.error("no mask", where, "the annotation has no segmentation")
            continue
        area = _mask_area(result, where, annotation["segmentation"], width, height)
        if area == 0:
            result.error("empty mask", where, "the mask has no pixel inside the image")
        if "area" not in annotation:
            result.warning("no area", where, "no 'area': COCO evaluation of this file needs it")
        result.counts[id_map[category]] += 1
    return result


def check_panoptic_annotation(args: Tuple[str, str, dict, Dict[int, int], str]) -> FileResult:
    """An image and its COCO panoptic annotation: both readable and the same size, every
    segment id of the PNG listed in ``segments_info`` (each of a known category)."""
    image_path, png_path, annotation, id_map, json_file = args
    result = FileResult()
    image = _read_image(result, image_path)
    try:
        pan_seg = read_panoptic_png(png_path)
    except FileNotFoundError:
        result.error("missing panoptic PNG", png_path, f"named by {json_file} but does not exist")
        return result
    except ImageReadError as e:
        result.error("unreadable panoptic PNG", png_path, str(e).replace(f" {png_path}", ""))
        return result
    if image is not None and pan_seg.shape != image.shape[:2]:
        result.error(
            "size mismatch",
            png_path,
            f"the PNG is {_size(pan_seg)} (WxH) but its image {image_path} is {_size(image)}",
        )
    ids, areas = np.unique(pan_seg, return_counts=True)
    area_of = dict(zip(ids.tolist(), areas.tolist()))
    segments = annotation.get("segments_info", [])
    listed = [s.get("id") for s in segments]
    repeated = sorted({i for i in listed if listed.count(i) > 1})
    if repeated:
        result.error(
            "repeated segment id", png_path, f"segments_info lists ids {repeated} more than once"
        )
    unlisted = sorted(set(area_of) - set(listed) - {0})
    if unlisted:
        result.error(
            "segment without an entry",
            png_path,
            f"segment ids {unlisted[:8]} of the PNG have no entry in segments_info of {json_file}",
        )
    absent = [i for i in listed if i not in area_of]
    if absent:
        result.warning(
            "segment absent from the PNG",
            png_path,
            f"segments {absent[:8]} of segments_info have no pixel",
        )
    for segment in segments:
        category = segment.get("category_id")
        if category not in id_map:
            result.error(
                "unknown category",
                png_path,
                f"segment {segment.get('id')}: category_id {category!r} is no class's",
            )
        elif segment.get("id") in area_of:
            result.counts[id_map[category]] += 1
            result.pixels[id_map[category]] += area_of[segment["id"]]
    return result
