"""Conversions from the raw dataset downloads to the formats the registered loaders read.

The ``datasets/prepare_*.py`` scripts are command-line wrappers around these functions, and the
generated "shapes" dataset is written through them, so the same code paths run in the tests.
"""

import glob
import json
import os
import pickle
import shutil
from typing import Dict, Iterable, List, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util
from panopticapi.utils import id2rgb
from PIL import Image

from .datasets.catalog import DatasetNotFoundError, load_categories
from .image_io import check_same_size, read_image_checked, read_label_map, read_panoptic_png

__all__ = [
    "shift_ade20k_semantic",
    "prepare_ade20k_semantic",
    "semantic_from_panoptic",
    "semantic_of_segments",
    "instance_annotation",
    "prepare_ade20k_panoptic",
    "prepare_ade20k_instance",
    "prepare_coco_stuff_10k",
    "prepare_ade20k_full",
    "ade20k_full_class_mask",
    "ade20k_full_size",
    "segment_bbox",
]

ADE20K_SPLITS = (("train", "training"), ("val", "validation"))


def _require_dir(path: str, what: str):
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{what}: expected folder {path} does not exist")


def _save_image(array: np.ndarray, path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def _save_json(obj, path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def segment_bbox(mask: np.ndarray) -> List[int]:
    """COCO [x, y, width, height] of a non-empty boolean mask."""
    ys, xs = np.nonzero(mask)
    return [
        int(xs.min()),
        int(ys.min()),
        int(xs.max() - xs.min() + 1),
        int(ys.max() - ys.min() + 1),
    ]


def instance_annotation(
    mask: np.ndarray, annotation_id, image_id, category_id, iscrowd: int
) -> dict:
    """A COCO instance annotation of a non-empty boolean (H, W) mask: compressed RLE, area,
    bbox."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": rle,
        "area": int(mask.sum()),
        "bbox": segment_bbox(mask),
        "iscrowd": iscrowd,
    }


def shift_ade20k_semantic(src: str, dst: str):
    """ADE20K label PNG (0 = "other", 1..K = classes) -> detectron2 format (255 = ignore,
    0..K-1 = classes)."""
    label = np.asarray(Image.open(src))
    if label.dtype != np.uint8 or label.ndim != 2:
        raise ValueError(
            f"{src}: expected an 8-bit single-channel label PNG, got {label.dtype} {label.shape}"
        )
    _save_image((label - 1).astype(np.uint8), dst)  # uint8 wrap-around sends 0 to 255


def prepare_ade20k_semantic(ade_root: str) -> int:
    """``ADEChallengeData2016/annotations/{training,validation}`` -> ``annotations_detectron2``.
    Returns the number of converted files."""
    count = 0
    for _, dirname in ADE20K_SPLITS:
        src_dir = os.path.join(ade_root, "annotations", dirname)
        _require_dir(src_dir, "ADE20K semantic annotations")
        for src in sorted(glob.glob(os.path.join(src_dir, "*.png"))):
            dst = os.path.join(ade_root, "annotations_detectron2", dirname, os.path.basename(src))
            shift_ade20k_semantic(src, dst)
            count += 1
    return count


def semantic_from_panoptic(
    panoptic_json: str, panoptic_root: str, sem_seg_root: str, categories: Iterable[dict]
) -> int:
    """Write one semantic PNG per panoptic annotation: the contiguous index (position in
    ``categories``) of each segment's category, 255 where no segment is (crowd segments keep
    their category). Returns the number of PNGs written."""
    contiguous = {cat["id"]: i for i, cat in enumerate(categories)}
    with open(panoptic_json) as f:
        annotations = json.load(f)["annotations"]
    for ann in annotations:
        pan_seg = read_panoptic_png(os.path.join(panoptic_root, ann["file_name"]))
        semantic = semantic_of_segments(
            pan_seg, ann["segments_info"], contiguous, f"{panoptic_json}: {ann['file_name']}"
        )
        _save_image(semantic, os.path.join(sem_seg_root, ann["file_name"]))
    return len(annotations)


def semantic_of_segments(
    pan_seg: np.ndarray, segments_info: Iterable[dict], contiguous: Dict[int, int], where: str
) -> np.ndarray:
    """The (H, W) uint8 semantic label map of a panoptic annotation: the contiguous index
    (``contiguous[category_id]``) of each segment of ``pan_seg`` (segment ids, (H, W)), 255
    where no segment is (crowd segments keep their category). ``where`` names the annotation
    in errors."""
    if len(contiguous) > 255:
        raise ValueError(
            "semantic labels of panoptic annotations are 8-bit PNGs: at most 255 categories"
        )
    semantic = np.full(pan_seg.shape, 255, dtype=np.uint8)
    for segment in segments_info:
        if segment["category_id"] not in contiguous:
            raise KeyError(
                f"{where}: segment {segment['id']} has unknown category_id {segment['category_id']}"
            )
        semantic[pan_seg == segment["id"]] = contiguous[segment["category_id"]]
    return semantic


def _ade20k_inputs(ade_root: str, dirname: str):
    image_dir = os.path.join(ade_root, "images", dirname)
    instance_dir = os.path.join(ade_root, "annotations_instance", dirname)
    _require_dir(image_dir, "ADE20K images")
    _require_dir(instance_dir, "ADE20K instance annotations (annotations_instance)")
    for image_path in sorted(glob.glob(os.path.join(image_dir, "*.jpg"))):
        stem = os.path.splitext(os.path.basename(image_path))[0]
        yield image_path, stem, os.path.join(instance_dir, stem + ".png")


def _read_ade20k_instances(path: str, image: np.ndarray, image_path: str):
    """ADE20K instance PNG: R = instance category (1..100), G = instance index (0 = none)."""
    instance_png = read_image_checked(path, "RGB")
    check_same_size(instance_png, path, image, image_path)
    return instance_png[..., 0].astype(np.int64), instance_png[..., 1].astype(np.int64)


def _instance_category_map(instance_categories: List[dict]) -> Dict[int, int]:
    """ADE20K instance-challenge category (1..100) -> 150-class id (0..149)."""
    return {cat["instance_id"]: cat["id"] for cat in instance_categories}


def _ade20k_thing_segments(categories_r, indices_g, to_semantic, path):
    for index in np.unique(indices_g):
        if index == 0:
            continue
        mask = indices_g == index
        cats = np.unique(categories_r[mask])
        if len(cats) != 1 or int(cats[0]) not in to_semantic:
            raise ValueError(f"{path}: instance {index} has category values {cats.tolist()}")
        yield mask, to_semantic[int(cats[0])]


def prepare_ade20k_panoptic(
    ade_root: str, categories: List[dict], instance_categories: List[dict]
) -> int:
    """Write ``ade20k_panoptic_{train,val}/`` PNGs and ``ade20k_panoptic_{train,val}.json`` from
    the semantic (``annotations``) and instance (``annotations_instance``) PNGs: stuff
    segments from the semantic map, thing segments from the instance map (drawn over stuff)."""
    is_thing = {cat["id"]: bool(cat["isthing"]) for cat in categories}
    to_semantic = _instance_category_map(instance_categories)
    json_categories = [
        {"id": c["id"], "name": c["name"], "isthing": int(c["isthing"]), "color": c["color"]}
        for c in categories
    ]
    count = 0
    for split, dirname in ADE20K_SPLITS:
        out_dir = os.path.join(ade_root, f"ade20k_panoptic_{split}")
        images, annotations = [], []
        for image_path, stem, instance_path in _ade20k_inputs(ade_root, dirname):
            image = read_image_checked(image_path, "RGB")
            semantic_path = os.path.join(ade_root, "annotations", dirname, stem + ".png")
            semantic = read_label_map(semantic_path) - 1  # -1 = "other"
            check_same_size(semantic, semantic_path, image, image_path)
            categories_r, indices_g = _read_ade20k_instances(instance_path, image, image_path)
            pan_seg = np.zeros(semantic.shape, dtype=np.int64)
            segments = []
            stuff = [
                (semantic == c, int(c))
                for c in np.unique(semantic)
                if c >= 0 and not is_thing[int(c)]
            ]
            things = list(
                _ade20k_thing_segments(categories_r, indices_g, to_semantic, instance_path)
            )
            for mask, category_id in stuff + things:
                segment_id = len(segments) + 1
                pan_seg[mask] = segment_id
                segments.append({"id": segment_id, "category_id": category_id, "iscrowd": 0})
            for segment in segments:  # area/bbox after all overlaps are resolved
                mask = pan_seg == segment["id"]
                segment.update(
                    area=int(mask.sum()), bbox=segment_bbox(mask) if mask.any() else [0, 0, 0, 0]
                )
            segments = [s for s in segments if s["area"] > 0]
            h, w = semantic.shape
            images.append(
                {"id": stem, "file_name": os.path.basename(image_path), "height": h, "width": w}
            )
            annotations.append(
                {"image_id": stem, "file_name": stem + ".png", "segments_info": segments}
            )
            _save_image(id2rgb(pan_seg), os.path.join(out_dir, stem + ".png"))
            count += 1
        _save_json(
            {"images": images, "annotations": annotations, "categories": json_categories},
            os.path.join(ade_root, f"ade20k_panoptic_{split}.json"),
        )
    return count


def prepare_ade20k_instance(ade_root: str, instance_categories: List[dict]) -> int:
    """Write COCO-format ``ade20k_instance_{train,val}.json`` (RLE masks, category ids in the
    150-class id space) from the instance PNGs."""
    to_semantic = _instance_category_map(instance_categories)
    json_categories = [{"id": c["id"], "name": c["name"]} for c in instance_categories]
    count = 0
    for split, dirname in ADE20K_SPLITS:
        images, annotations = [], []
        for image_path, stem, instance_path in _ade20k_inputs(ade_root, dirname):
            image = read_image_checked(image_path, "RGB")
            categories_r, indices_g = _read_ade20k_instances(instance_path, image, image_path)
            h, w = image.shape[:2]
            images.append(
                {"id": stem, "file_name": os.path.basename(image_path), "height": h, "width": w}
            )
            for mask, category_id in _ade20k_thing_segments(
                categories_r, indices_g, to_semantic, instance_path
            ):
                annotations.append(
                    instance_annotation(mask, len(annotations) + 1, stem, category_id, iscrowd=0)
                )
            count += 1
        _save_json(
            {"images": images, "annotations": annotations, "categories": json_categories},
            os.path.join(ade_root, f"ade20k_instance_{split}.json"),
        )
    return count


def _read_coco_stuff_mat(path: str) -> np.ndarray:
    """Label map "S" of a COCO-Stuff-10k v1.0 .mat file (MATLAB v7.3/HDF5 or older formats)."""
    import h5py
    from scipy.io import loadmat

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            return np.asarray(f["S"]).T  # MATLAB stores column-major
    return np.asarray(loadmat(path)["S"])


def prepare_coco_stuff_10k(stuff_root: str) -> int:
    """``coco/coco_stuff_10k/{imageLists,images,annotations}`` -> ``images_detectron2/{train,test}``
    (copies) and ``annotations_detectron2/{train,test}`` PNGs holding the contiguous 171-class
    index, 255 = unlabeled (v1.0 label maps store index + 2, 1 = unlabeled)."""
    count = 0
    for split in ("train", "test"):
        list_file = os.path.join(stuff_root, "imageLists", f"{split}.txt")
        if not os.path.isfile(list_file):
            raise FileNotFoundError(
                f"COCO-Stuff-10k: expected image list {list_file} does not exist"
            )
        with open(list_file) as f:
            stems = [line.strip() for line in f if line.strip()]
        for stem in stems:
            src_image = os.path.join(stuff_root, "images", stem + ".jpg")
            image = read_image_checked(src_image, "RGB")
            mat_path = os.path.join(stuff_root, "annotations", stem + ".mat")
            label = check_same_size(_read_coco_stuff_mat(mat_path), mat_path, image, src_image)
            label = label.astype(np.int64) - 2
            label[(label < 0) | (label > 170)] = 255
            dst_image = os.path.join(stuff_root, "images_detectron2", split, stem + ".jpg")
            os.makedirs(os.path.dirname(dst_image), exist_ok=True)
            shutil.copyfile(src_image, dst_image)
            _save_image(
                label.astype(np.uint8),
                os.path.join(stuff_root, "annotations_detectron2", split, stem + ".png"),
            )
            count += 1
    return count


ADE20K_FULL_IGNORE = 65535  # 16-bit label maps
ADE20K_FULL_MAX_SIZE = 512


def ade20k_full_class_mask(seg_rgb: np.ndarray) -> np.ndarray:
    """Object class of every pixel of an ADE20K full-release ``*_seg.png`` (RGB): R / 10 * 256
    + G, integer division (B holds instances). (H, W) int32; 0 = unlabeled."""
    r = seg_rgb[..., 0].astype(np.int32)
    g = seg_rgb[..., 1].astype(np.int32)
    return r // 10 * 256 + g


def ade20k_full_size(
    height: int, width: int, max_size: int = ADE20K_FULL_MAX_SIZE
) -> Tuple[int, int]:
    """(height, width) after the published preparation's resize: a shorter side above
    ``max_size`` becomes ``max_size``, keeping the aspect ratio (the longer side rounded)."""
    if width >= height > max_size:
        return max_size, round(width / height * max_size)
    if height >= width > max_size:
        return round(height / width * max_size), max_size
    return height, width


def prepare_ade20k_full(root: str) -> int:
    """ADE20K-Full (847 classes) from the ADE20K full release, as the published MaskFormer
    preparation writes it: for every image listed in ``root/ADE20K_2021_17_01/index_ade20k.pkl``
    (its "folder" entries are relative to ``root``), resized so that its shorter side is at most
    512 (bilinear; labels nearest),

    - ``ADE20K_2021_17_01/images_detectron2/{training,validation}/<name>.jpg``, re-encoded as
      the published script does (PIL's default JPEG quality);
    - ``ADE20K_2021_17_01/annotations_detectron2/{training,validation}/<name>.tif``: 16-bit
      contiguous index of ``metadata/ade20k_847.json`` (whose ids are the release's object class
      ids), 65535 for unlabeled pixels and the classes outside the 847.

    The split comes from the file name (``ADE_val_*`` is validation). ``index_ade20k.pkl`` is
    unpickled: it is the release's own index. Returns the number of images written.
    """
    ade = os.path.join(root, "ADE20K_2021_17_01")
    index_file = os.path.join(ade, "index_ade20k.pkl")
    if not os.path.isfile(index_file):
        raise DatasetNotFoundError(
            f"ADE20K-Full: expected the ADE20K full release's index {index_file}; download "
            "ADE20K_2021_17_01 (https://groups.csail.mit.edu/vision/datasets/ADE20K/) into "
            f"{root}"
        )
    with open(index_file, "rb") as f:
        index = pickle.load(f)
    lut = np.full(26 * 256, ADE20K_FULL_IGNORE, np.uint16)  # R <= 255 -> R // 10 <= 25
    for contiguous, category in enumerate(load_categories("ade20k_847")):
        lut[category["id"]] = contiguous
    count = 0
    for folder, file_name in zip(index["folder"], index["filename"]):
        split = "validation" if file_name.split("_")[1] == "val" else "training"
        image_path = os.path.join(root, folder, file_name)
        seg_path = os.path.splitext(image_path)[0] + "_seg.png"
        for path in (image_path, seg_path):
            if not os.path.isfile(path):
                raise DatasetNotFoundError(
                    f"ADE20K-Full: {index_file} lists {path}, which does not exist"
                )
        with Image.open(image_path) as image:
            image = np.asarray(image if image.mode in ("RGB", "L") else image.convert("RGB"))
        classes = ade20k_full_class_mask(read_image_checked(seg_path, "RGB"))
        check_same_size(classes, seg_path, image, image_path)
        h, w = ade20k_full_size(*classes.shape)
        if (h, w) != classes.shape:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
            classes = cv2.resize(classes, (w, h), interpolation=cv2.INTER_NEAREST)
        stem = os.path.splitext(file_name)[0]
        image_out = os.path.join(ade, "images_detectron2", split, file_name)
        os.makedirs(os.path.dirname(image_out), exist_ok=True)
        Image.fromarray(image).save(image_out)
        _save_image(lut[classes], os.path.join(ade, "annotations_detectron2", split, stem + ".tif"))
        count += 1
    return count
