"""Dataset registration: published names and metadata, clear errors for missing folders, and
each registration function on a miniature fake tree in the real layout."""

import copy
import json

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from panopticapi.utils import id2rgb
from PIL import Image

from helpers.configs import dataset_num_classes, make_tiny_cfg
from mask2former.data import build_dataset_mapper
from mask2former.data.datasets import (
    DatasetNotFoundError,
    register_all_ade20k,
    register_all_cityscapes,
    register_all_coco,
    register_all_mapillary_vistas,
    register_all_shapes,
)
from mask2former.data.datasets.catalog import datasets_root

PUBLISHED = {
    # name: (number of classes in stuff_classes or thing_classes, evaluator_type, preparation hint)
    "ade20k_sem_seg_{}": (150, "sem_seg", "prepare_ade20k_sem_seg.py"),
    "ade20k_panoptic_{}": (150, "ade20k_panoptic_seg", "prepare_ade20k_pan_seg.py"),
    "ade20k_instance_{}": (100, "coco", "prepare_ade20k_ins_seg.py"),
    "ade20k_full_sem_seg_{}": (847, "sem_seg", "prepare_ade20k_full_sem_seg.py"),
    "coco_2017_{}": (80, "coco", "instances_"),
    "coco_2017_{}_panoptic": (133, "coco_panoptic_seg", "panoptic"),
    "coco_2017_{}_panoptic_with_sem_seg": (
        133,
        "coco_panoptic_seg",
        "prepare_coco_semantic_annos_from_panoptic_annos.py",
    ),
    "cityscapes_fine_sem_seg_{}": (19, "cityscapes_sem_seg", "cityscapesscripts"),
    "cityscapes_fine_instance_seg_{}": (8, "cityscapes_instance", "cityscapesscripts"),
    "cityscapes_fine_panoptic_{}": (19, "cityscapes_panoptic_seg", "cityscapesscripts"),
    "mapillary_vistas_sem_seg_{}": (65, "sem_seg", "Mapillary Vistas"),
    "mapillary_vistas_panoptic_{}": (65, "mapillary_vistas_panoptic_seg", "Mapillary Vistas"),
}
SPLITS = {"coco_2017_{}_stuff_10k_sem_seg": ("train", "test")}


def _names():
    for pattern in PUBLISHED:
        for split in ("train", "val"):
            yield pattern, pattern.format(split)
    for split in SPLITS["coco_2017_{}_stuff_10k_sem_seg"]:
        yield "coco_2017_{}_stuff_10k_sem_seg", f"coco_2017_{split}_stuff_10k_sem_seg"


_REGISTER_ALL = (
    register_all_ade20k,
    register_all_coco,
    register_all_cityscapes,
    register_all_mapillary_vistas,
)


@pytest.fixture
def restore_registrations():
    yield
    for register in _REGISTER_ALL:
        register(datasets_root())


@pytest.mark.parametrize("pattern,name", list(_names()))
def test_published_names_and_metadata(pattern, name):
    assert name in DatasetCatalog.list()
    meta = MetadataCatalog.get(name)
    count, evaluator, _ = PUBLISHED.get(pattern, (171, "sem_seg", None))
    classes = (
        meta.thing_classes if evaluator in ("coco", "cityscapes_instance") else meta.stuff_classes
    )
    assert len(classes) == count
    assert meta.evaluator_type == evaluator
    if hasattr(meta, "stuff_colors"):
        assert len(meta.stuff_colors) == len(meta.stuff_classes)
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in meta.stuff_colors)
    for key in ("thing_dataset_id_to_contiguous_id", "stuff_dataset_id_to_contiguous_id"):
        if hasattr(meta, key):
            mapping = getattr(meta, key)
            assert len(set(mapping.values())) == len(mapping)


def test_panoptic_metadata_layout():
    ade = MetadataCatalog.get("ade20k_panoptic_val")
    assert len(ade.thing_classes) == 100 and ade.thing_dataset_id_to_contiguous_id[7] == 7  # bed
    assert ade.stuff_classes[7] == "bed" and ade.ignore_label == 255 and ade.label_divisor == 1000
    coco = MetadataCatalog.get("coco_2017_val_panoptic_with_sem_seg")
    assert coco.thing_classes == MetadataCatalog.get("coco_2017_val").thing_classes
    assert coco.stuff_dataset_id_to_contiguous_id[200] == 132  # wall-other-merged, last
    assert MetadataCatalog.get("mapillary_vistas_sem_seg_val").ignore_label == 65
    assert MetadataCatalog.get("ade20k_full_sem_seg_val").ignore_label == 65535
    assert (
        MetadataCatalog.get("ade20k_full_sem_seg_val").stuff_dataset_id_to_contiguous_id[2978] == 0
    )


@pytest.mark.parametrize("pattern,name", list(_names()))
def test_missing_folders_name_path_and_preparation(tmp_path, restore_registrations, pattern, name):
    for register in _REGISTER_ALL:
        register(str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        DatasetCatalog.get(name)
    message = str(info.value)
    assert str(tmp_path) in message and "datasets/README.md" in message
    hint = PUBLISHED.get(pattern, (None, None, "prepare_coco_stuff_10k.py"))[2]
    assert hint in message


def test_missing_shapes_names_generator(tmp_path, shapes_root):
    register_all_shapes(str(tmp_path))
    try:
        with pytest.raises(DatasetNotFoundError, match="generate_shapes.py"):
            DatasetCatalog.get("shapes_panoptic_train")
    finally:
        register_all_shapes(str(shapes_root))


def _map(mapper_name, dataset, record=None):
    cfg = make_tiny_cfg(num_classes=dataset_num_classes(dataset))
    cfg.DATASETS.TRAIN = (dataset,)
    cfg.INPUT.DATASET_MAPPER_NAME = mapper_name
    record = record or DatasetCatalog.get(dataset)[0]
    return build_dataset_mapper(cfg)(copy.deepcopy(record))


def _image(path, h=16, w=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(path)


def _road_and_car_panoptic(png, json_file, image_id, road, car):
    """Writes the panoptic PNG ``png`` of an _image: the road in rows 8-15, a car in rows 2-7 of
    columns 2-10, and the panoptic JSON ``json_file`` listing the two segments of ``image_id``;
    ``road`` and ``car`` are (segment id, category id)."""
    pan = np.zeros((16, 32), np.int64)
    pan[8:] = road[0]
    pan[2:8, 2:11] = car[0]
    png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(id2rgb(pan)).save(png)
    segments = [
        {"id": road[0], "category_id": road[1], "iscrowd": 0, "area": 256, "bbox": [0, 8, 32, 8]},
        {"id": car[0], "category_id": car[1], "iscrowd": 0, "area": 54, "bbox": [2, 2, 9, 6]},
    ]
    record = {"image_id": image_id, "file_name": png.name, "segments_info": segments}
    json_file.write_text(json.dumps({"annotations": [record]}))


def test_ade20k_full_sixteen_bit_labels(tmp_path, restore_registrations):
    base = tmp_path / "ADE20K_2021_17_01"
    _image(base / "images_detectron2" / "training" / "ADE_frame_1.jpg")
    label = np.full((16, 32), 65535, np.uint16)
    label[:8] = 846
    label[8:, :4] = 300
    (base / "annotations_detectron2" / "training").mkdir(parents=True)
    Image.fromarray(label).save(base / "annotations_detectron2" / "training" / "ADE_frame_1.tif")
    register_all_ade20k(str(tmp_path))
    out = _map("mask_former_semantic", "ade20k_full_sem_seg_train")
    assert out["instances"].gt_classes.tolist() == [300, 846]
    assert set(out["sem_seg"].unique().tolist()) == {300, 846, 65535}


def test_coco_instance(tmp_path, restore_registrations):
    from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

    coco = tmp_path / "coco"
    _image(coco / "val2017" / "000000000009.jpg")
    things = [c for c in COCO_CATEGORIES if c["isthing"]]
    anns = [
        {
            "id": 1,
            "image_id": 9,
            "category_id": 3,
            "iscrowd": 0,
            "area": 40,
            "bbox": [2, 2, 8, 5],
            "segmentation": [[2, 2, 10, 2, 10, 7, 2, 7]],
        },
        {
            "id": 2,
            "image_id": 9,
            "category_id": 90,
            "iscrowd": 1,
            "area": 9,
            "bbox": [20, 2, 3, 3],
            "segmentation": {"size": [16, 32], "counts": [322, 3, 13, 3, 13, 3, 155]},
        },
    ]
    (coco / "annotations").mkdir()
    (coco / "annotations" / "instances_val2017.json").write_text(
        json.dumps(
            {
                "images": [{"id": 9, "file_name": "000000000009.jpg", "height": 16, "width": 32}],
                "annotations": anns,
                "categories": things,
            }
        )
    )
    register_all_coco(str(tmp_path))
    record = DatasetCatalog.get("coco_2017_val")[0]
    assert [a["category_id"] for a in record["annotations"]] == [2, 79]
    out = _map("mask_former_instance", "coco_2017_val", record)
    assert out["instances"].gt_classes.tolist() == [2]  # crowd dropped


def test_cityscapes(tmp_path, restore_registrations):
    stem = "frankfurt_000000_000294"
    city = tmp_path / "cityscapes"
    _image(city / "leftImg8bit" / "val" / "frankfurt" / f"{stem}_leftImg8bit.png")
    gt = city / "gtFine" / "val" / "frankfurt"
    gt.mkdir(parents=True)
    train_ids = np.full((16, 32), 255, np.uint8)
    train_ids[8:] = 0  # road
    train_ids[2:8, 2:11] = 13  # car
    Image.fromarray(train_ids).save(gt / f"{stem}_gtFine_labelTrainIds.png")
    Image.fromarray(np.zeros((16, 32), np.uint8)).save(gt / f"{stem}_gtFine_labelIds.png")
    Image.fromarray(np.zeros((16, 32), np.uint16)).save(gt / f"{stem}_gtFine_instanceIds.png")
    (gt / f"{stem}_gtFine_polygons.json").write_text(
        json.dumps(
            {
                "imgHeight": 16,
                "imgWidth": 32,
                "objects": [
                    {"label": "road", "polygon": [[0, 8], [32, 8], [32, 16], [0, 16]]},
                    {"label": "car", "polygon": [[2, 2], [11, 2], [11, 8], [2, 8]]},
                ],
            }
        )
    )
    _road_and_car_panoptic(
        city / "gtFine" / "cityscapes_panoptic_val" / f"{stem}_gtFine_panoptic.png",
        city / "gtFine" / "cityscapes_panoptic_val.json",
        stem,
        road=(7, 7),
        car=(26001, 26),
    )
    register_all_cityscapes(str(tmp_path))
    out = _map("mask_former_semantic", "cityscapes_fine_sem_seg_val")
    assert out["instances"].gt_classes.tolist() == [0, 13]
    (record,) = DatasetCatalog.get("cityscapes_fine_instance_seg_val")
    assert [a["category_id"] for a in record["annotations"]] == [2]  # car among the 8 things
    out = _map("mask_former_panoptic", "cityscapes_fine_panoptic_val")
    assert out["instances"].gt_classes.tolist() == [0, 13]


def test_mapillary_vistas(tmp_path, restore_registrations):
    base = tmp_path / "mapillary_vistas" / "validation"
    _image(base / "images" / "m1.jpg")
    labels = np.full((16, 32), 65, np.uint8)  # 65 = unlabeled
    labels[8:] = 13  # road (id 14)
    labels[2:8, 2:11] = 55  # car (id 56)
    (base / "labels").mkdir()
    Image.fromarray(labels).save(base / "labels" / "m1.png")
    _road_and_car_panoptic(
        base / "panoptic" / "m1.png",
        base / "panoptic" / "panoptic_2018.json",
        "m1",
        road=(1, 14),
        car=(2, 56),
    )
    register_all_mapillary_vistas(str(tmp_path))
    out = _map("mask_former_semantic", "mapillary_vistas_sem_seg_val")
    assert out["instances"].gt_classes.tolist() == [13, 55]
    assert (out["sem_seg"][:2] == 65).all()
    record = DatasetCatalog.get("mapillary_vistas_panoptic_val")[0]
    assert record["image_id"] == "m1"
    out = _map("mask_former_panoptic", "mapillary_vistas_panoptic_val", record)
    assert sorted(out["instances"].gt_classes.tolist()) == [13, 55]
