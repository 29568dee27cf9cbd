"""``datasets/prepare_*.py`` on miniature raw downloads, and the prepared data read back through
the registered datasets and the mappers."""

import copy
import json

import h5py
import numpy as np
import pytest
import scipy.io
from detectron2.data import DatasetCatalog
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from panopticapi.utils import id2rgb, rgb2id
from PIL import Image

from helpers.configs import dataset_num_classes, make_tiny_cfg
from helpers.scripts import load_script
from mask2former.data import build_dataset_mapper
from mask2former.data.datasets import register_all_ade20k, register_all_coco
from mask2former.data.datasets.catalog import datasets_root
from mask2former.data.image_io import read_label_map


def _script(name):
    return load_script(f"datasets/{name}.py").main


@pytest.fixture
def restore_registrations():
    yield
    register_all_ade20k(datasets_root())
    register_all_coco(datasets_root())


def _map(mapper_name, dataset):
    cfg = make_tiny_cfg(num_classes=dataset_num_classes(dataset))
    cfg.DATASETS.TRAIN = (dataset,)
    cfg.INPUT.DATASET_MAPPER_NAME = mapper_name
    record = DatasetCatalog.get(dataset)[0]
    return record, build_dataset_mapper(cfg)(copy.deepcopy(record))


def _make_raw_ade20k(root):
    """One image per split: wall (1) on top, floor (4) below, "other" (0) corner, a bed
    (instance category 1 = class id 7) and a person (instance category 4 = class id 12)."""
    ade = root / "ADEChallengeData2016"
    for split, stem in (("training", "ADE_train_00000001"), ("validation", "ADE_val_00000001")):
        for sub in ("images", "annotations", "annotations_instance"):
            (ade / sub / split).mkdir(parents=True)
        Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(
            ade / "images" / split / f"{stem}.jpg"
        )
        semantic = np.ones((32, 40), np.uint8)
        semantic[16:] = 4
        semantic[:4, :4] = 0
        instance = np.zeros((32, 40, 3), np.uint8)
        semantic[20:30, 2:12] = 8
        instance[20:30, 2:12] = (1, 1, 0)
        semantic[5:15, 20:26] = 13
        instance[5:15, 20:26] = (4, 2, 0)
        Image.fromarray(semantic).save(ade / "annotations" / split / f"{stem}.png")
        Image.fromarray(instance).save(ade / "annotations_instance" / split / f"{stem}.png")
    return ade


def test_prepare_ade20k(tmp_path, restore_registrations):
    ade = _make_raw_ade20k(tmp_path)
    for script in ("prepare_ade20k_sem_seg", "prepare_ade20k_pan_seg", "prepare_ade20k_ins_seg"):
        _script(script)(["--root", str(tmp_path)])

    shifted = np.asarray(
        Image.open(ade / "annotations_detectron2" / "training" / "ADE_train_00000001.png")
    )
    assert shifted[0, 0] == 255 and shifted[0, 10] == 0 and shifted[31, 39] == 3
    assert shifted[25, 5] == 7 and shifted[10, 22] == 12

    panoptic = json.loads((ade / "ade20k_panoptic_train.json").read_text())
    (ann,) = panoptic["annotations"]
    segments = {s["category_id"]: s for s in ann["segments_info"]}
    assert set(segments) == {0, 3, 7, 12}
    pan = rgb2id(np.asarray(Image.open(ade / "ade20k_panoptic_train" / ann["file_name"])))
    assert pan[0, 0] == 0
    assert segments[7]["area"] == 100 and segments[7]["bbox"] == [2, 20, 10, 10]
    assert (pan == segments[12]["id"]).sum() == 60
    assert segments[0]["area"] == 16 * 40 - 16 - 60  # wall minus "other" corner and person

    instances = json.loads((ade / "ade20k_instance_val.json").read_text())
    assert sorted(a["category_id"] for a in instances["annotations"]) == [7, 12]
    assert {a["area"] for a in instances["annotations"]} == {100, 60}

    register_all_ade20k(str(tmp_path))
    _, out = _map("mask_former_semantic", "ade20k_sem_seg_train")
    assert sorted(out["instances"].gt_classes.tolist()) == [0, 3, 7, 12]
    record, out = _map("mask_former_panoptic", "ade20k_panoptic_train")
    assert record["sem_seg_file_name"].endswith(
        "annotations_detectron2/training/ADE_train_00000001.png"
    )
    assert sorted(out["instances"].gt_classes.tolist()) == [0, 3, 7, 12]
    _, out = _map("mask_former_instance", "ade20k_instance_val")
    assert sorted(out["instances"].gt_classes.tolist()) == [
        0,
        3,
    ]  # bed, person among the 100 things


def test_prepare_script_reports_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="ADEChallengeData2016/annotations/training"):
        _script("prepare_ade20k_sem_seg")(["--root", str(tmp_path)])


def test_prepare_coco_semantic_from_panoptic(tmp_path, restore_registrations):
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    ids = {c["id"]: i for i, c in enumerate(COCO_CATEGORIES)}
    for split in ("train", "val"):
        (coco / f"{split}2017").mkdir()
        (coco / f"panoptic_{split}2017").mkdir()
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(
            coco / f"{split}2017" / "000000000001.jpg"
        )
        pan = np.zeros((10, 12), np.int64)
        pan[:5] = 5000  # sky-other-merged (id 187), stuff
        pan[6:, 2:6] = 77  # person (id 1), thing
        pan[6:, 8:] = 78  # a crowd of persons
        Image.fromarray(id2rgb(pan)).save(coco / f"panoptic_{split}2017" / "000000000001.png")
        segments = [
            {"id": 5000, "category_id": 187, "iscrowd": 0, "area": 60, "bbox": [0, 0, 12, 5]},
            {"id": 77, "category_id": 1, "iscrowd": 0, "area": 16, "bbox": [2, 6, 4, 4]},
            {"id": 78, "category_id": 1, "iscrowd": 1, "area": 16, "bbox": [8, 6, 4, 4]},
        ]
        (coco / "annotations" / f"panoptic_{split}2017.json").write_text(
            json.dumps(
                {
                    "images": [
                        {"id": 1, "file_name": "000000000001.jpg", "height": 10, "width": 12}
                    ],
                    "annotations": [
                        {"image_id": 1, "file_name": "000000000001.png", "segments_info": segments}
                    ],
                    "categories": COCO_CATEGORIES,
                }
            )
        )
    _script("prepare_coco_semantic_annos_from_panoptic_annos")(["--root", str(tmp_path)])
    semantic = np.asarray(Image.open(coco / "panoptic_semseg_val2017" / "000000000001.png"))
    assert (semantic[:5] == ids[187]).all() and semantic[5, 0] == 255
    assert (semantic[6:, 2:6] == 0).all() and (semantic[6:, 8:] == 0).all()

    register_all_coco(str(tmp_path))
    record, out = _map("mask_former_panoptic", "coco_2017_val_panoptic_with_sem_seg")
    assert out["instances"].gt_classes.tolist() == [ids[187], 0]  # the crowd is no target
    assert (
        DatasetCatalog.get("coco_2017_train_panoptic")[0]["segments_info"][0]["category_id"]
        == ids[187]
    )


@pytest.mark.parametrize("mat_format", ["hdf5", "matlab5"])
def test_prepare_coco_stuff_10k(tmp_path, restore_registrations, mat_format):
    stuff = tmp_path / "coco" / "coco_stuff_10k"
    for sub in ("imageLists", "images", "annotations"):
        (stuff / sub).mkdir(parents=True)
    labels = np.array([[1, 2, 3], [172, 0, 50]], np.uint8)  # stored as contiguous index + 2
    for split, stem in (
        ("train", "COCO_train2014_000000000077"),
        ("test", "COCO_train2014_000000000078"),
    ):
        (stuff / "imageLists" / f"{split}.txt").write_text(stem + "\n")
        Image.fromarray(np.zeros((2, 3, 3), np.uint8)).save(stuff / "images" / f"{stem}.jpg")
        mat = stuff / "annotations" / f"{stem}.mat"
        if mat_format == "hdf5":  # MATLAB v7.3 stores arrays column-major
            with h5py.File(mat, "w") as f:
                f["S"] = labels.T
        else:
            scipy.io.savemat(mat, {"S": labels})
    _script("prepare_coco_stuff_10k")(["--root", str(tmp_path)])
    out = np.asarray(
        Image.open(stuff / "annotations_detectron2" / "test" / "COCO_train2014_000000000078.png")
    )
    assert out.tolist() == [[255, 0, 1], [170, 255, 48]]
    assert (stuff / "images_detectron2" / "train" / "COCO_train2014_000000000077.jpg").is_file()

    register_all_coco(str(tmp_path))
    _, mapped = _map("mask_former_semantic", "coco_2017_train_stuff_10k_sem_seg")
    assert mapped["instances"].gt_classes.tolist() == [0, 1, 48, 170]


def _ade20k_full_seg(class_ids: np.ndarray) -> np.ndarray:
    """An ADE20K full-release *_seg.png for object class ids: R = id // 256 * 10 (+ a digit
    the decoding must drop), G = id % 256, B = instance ids (ignored)."""
    seg = np.zeros(class_ids.shape + (3,), np.uint8)
    seg[..., 0] = class_ids // 256 * 10 + 3
    seg[..., 1] = class_ids % 256
    seg[..., 2] = 17
    return seg


def test_prepare_ade20k_full(tmp_path, restore_registrations):
    import pickle

    from mask2former.data.datasets.catalog import load_categories

    wall, sky, unknown = 2978, 2420, 5  # wall and sky: classes 0 and 2 of the 847; 5 is none
    categories = load_categories("ade20k_847")
    assert (categories[0]["id"], categories[2]["id"], categories[846]["id"]) == (wall, sky, 3148)
    assert unknown not in {c["id"] for c in categories}
    release = tmp_path / "ADE20K_2021_17_01"
    scenes = {  # file name: (folder relative to the datasets root, class ids)
        "ADE_train_00000001.jpg": (
            "ADE20K_2021_17_01/images/ADE/training/urban/street",
            np.full((600, 700), sky),
        ),
        "ADE_val_00000001.jpg": (
            "ADE20K_2021_17_01/images/ADE/validation/home/kitchen",
            np.full((30, 40), wall),
        ),
    }
    train_ids, val_ids = scenes["ADE_train_00000001.jpg"][1], scenes["ADE_val_00000001.jpg"][1]
    train_ids[300:, :] = wall
    train_ids[:100, :100] = unknown
    val_ids[:10, :] = 0  # unlabeled
    for file_name, (folder, ids) in scenes.items():
        (tmp_path / folder).mkdir(parents=True)
        Image.fromarray(np.full(ids.shape + (3,), 120, np.uint8)).save(
            tmp_path / folder / file_name
        )
        Image.fromarray(_ade20k_full_seg(ids)).save(
            tmp_path / folder / file_name.replace(".jpg", "_seg.png")
        )
    with open(release / "index_ade20k.pkl", "wb") as f:
        pickle.dump({"folder": [v[0] for v in scenes.values()], "filename": list(scenes)}, f)

    _script("prepare_ade20k_full_sem_seg")(["--root", str(tmp_path)])

    train = read_label_map(
        release / "annotations_detectron2" / "training" / "ADE_train_00000001.tif"
    )
    assert train.shape == (512, 597)  # shorter side 600 -> 512, 700 -> round(597.33)
    assert train[0, 0] == 65535 and train[0, 596] == 2 and train[511, 0] == 0
    assert Image.open(
        release / "images_detectron2" / "training" / "ADE_train_00000001.jpg"
    ).size == (597, 512)
    val = read_label_map(release / "annotations_detectron2" / "validation" / "ADE_val_00000001.tif")
    assert val.shape == (30, 40) and val[0, 0] == 65535 and (val[10:] == 0).all()  # not resized

    register_all_ade20k(str(tmp_path))
    _, out = _map("mask_former_semantic", "ade20k_full_sem_seg_train")
    assert sorted(out["instances"].gt_classes.tolist()) == [0, 2]


def test_prepare_ade20k_full_names_the_missing_index(tmp_path):
    from mask2former.data.datasets.catalog import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="ADE20K_2021_17_01/index_ade20k.pkl"):
        _script("prepare_ade20k_full_sem_seg")(["--root", str(tmp_path)])
