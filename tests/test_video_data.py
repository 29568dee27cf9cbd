"""Video data: the generated shapes videos, YouTube-VIS format loading, the video dataset
mapper (clip sampling, one augmentation per clip, objects tracked through the clip) and the
video dataset lists."""

import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from helpers.video import load_video_cfg
from mask2former.data.shapes_video import generate_videos
from mask2former.errors import UserError
from mask2former.video.data import (
    YTVISDatasetMapper,
    load_ytvis_json,
    register_ytvis_instances,
    sample_clip_frames,
    video_dataset_dicts,
)
from mask2former.video.data.augmentations import build_clip_augmentations


def _json(root, split="train"):
    return json.loads((root / "shapes_video" / f"{split}.json").read_text())


def _decode(segmentation, h, w):
    return mask_util.decode(mask_util.frPyObjects(segmentation, h, w)).astype(bool)


def test_generated_videos(shapes_videos, tmp_path):
    """YouTube-VIS layout; objects keep a class and move; some enter or leave the frame
    (absent in some frames), some are partly hidden by others; deterministic."""
    data = _json(shapes_videos)
    assert [c["id"] for c in data["categories"]] == [1, 2, 3, 5]
    assert len(data["videos"]) == 6
    for video in data["videos"]:
        assert 8 <= video["length"] <= 12 and len(video["file_names"]) == video["length"]
        for name in video["file_names"]:
            assert (shapes_videos / "shapes_video" / "train" / "JPEGImages" / name).is_file()
    absent = touching = 0
    for ann in data["annotations"]:
        video = next(v for v in data["videos"] if v["id"] == ann["video_id"])
        assert len(ann["segmentations"]) == video["length"]
        absent += any(s is None for s in ann["segmentations"])
        for segmentation, bbox, area in zip(ann["segmentations"], ann["bboxes"], ann["areas"]):
            if segmentation is None:
                assert bbox is None and area is None
                continue
            mask = _decode(segmentation, video["height"], video["width"])
            assert mask.sum() == area >= 24
            ys, xs = np.nonzero(mask)
            assert bbox == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    for video in data["videos"]:
        tracks = [a for a in data["annotations"] if a["video_id"] == video["id"]]
        for t in range(video["length"]):
            masks = [
                _decode(a["segmentations"][t], video["height"], video["width"])
                for a in tracks
                if a["segmentations"][t]
            ]
            if masks:  # visible parts are disjoint
                assert np.sum(masks, axis=0).max() <= 1
            # a thing in front of another: their visible parts touch along its outline
            for i, a in enumerate(masks):
                grown = (
                    a | np.roll(a, 1, 0) | np.roll(a, -1, 0) | np.roll(a, 1, 1) | np.roll(a, -1, 1)
                )
                touching += any((grown & b).any() for b in masks[i + 1 :])
    assert absent > 0 and touching > 0
    again = generate_videos(str(tmp_path), num_train=6, num_val=3)
    assert json.loads(open(os.path.join(again, "train.json")).read()) == data


def test_registered_and_loaded(shapes_videos):
    records = DatasetCatalog.get("shapes_video_train")
    meta = MetadataCatalog.get("shapes_video_train")
    assert meta.thing_classes == ["circle", "square", "triangle", "star"]
    assert meta.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 5: 3}
    assert meta.evaluator_type == "ytvis" and meta.json_file.endswith("train.json")
    data = _json(shapes_videos)
    assert [r["video_id"] for r in records] == [v["id"] for v in data["videos"]]
    record, video = records[0], data["videos"][0]
    assert record["length"] == len(record["file_names"]) == len(record["annotations"])
    assert all(os.path.isfile(f) for f in record["file_names"])
    for ann in (a for a in data["annotations"] if a["video_id"] == video["id"]):
        for t, segmentation in enumerate(ann["segmentations"]):
            objects = [o for o in record["annotations"][t] if o["id"] == ann["id"]]
            assert len(objects) == (segmentation is not None)
            if objects:
                assert (
                    objects[0]["category_id"]
                    == meta.thing_dataset_id_to_contiguous_id[ann["category_id"]]
                )


def test_loader_formats_and_errors(tmp_path):
    """Polygons, uncompressed and compressed RLE, missing boxes; the classes of a dataset
    registered without metadata come from the file; an unknown category is named."""
    mask = np.zeros((10, 12), np.uint8, order="F")
    mask[2:6, 3:9] = 1
    compressed = mask_util.encode(mask)
    compressed["counts"] = compressed["counts"].decode()
    data = {
        "videos": [
            {
                "id": 4,
                "length": 3,
                "height": 10,
                "width": 12,
                "file_names": ["a.jpg", "b.jpg", "c.jpg"],
            }
        ],
        "categories": [{"id": 7, "name": "x"}, {"id": 3, "name": "y"}],
        "annotations": [
            {
                "id": 1,
                "video_id": 4,
                "category_id": 7,
                "iscrowd": 0,
                "segmentations": [[[3, 2, 9, 2, 9, 6, 3, 6]], None, compressed],
                "bboxes": [None, None, None],
            },
        ],
    }
    path = tmp_path / "v.json"
    path.write_text(json.dumps(data))
    register_ytvis_instances("test_ytvis_custom", {}, str(path), str(tmp_path))
    (record,) = DatasetCatalog.get("test_ytvis_custom")
    assert MetadataCatalog.get("test_ytvis_custom").thing_classes == ["y", "x"]
    frames = record["annotations"]
    assert [len(f) for f in frames] == [1, 0, 1]
    assert frames[0][0]["category_id"] == 1 and frames[2][0]["bbox"] == [3.0, 2.0, 6.0, 4.0]
    data["annotations"][0]["category_id"] = 8
    path.write_text(json.dumps(data))
    with pytest.raises(KeyError, match=f"{path}: annotation 1 has category_id 8"):
        load_ytvis_json(str(path), str(tmp_path), "test_ytvis_custom")


def _cfg(**input_values):
    cfg = load_video_cfg()
    for key, value in input_values.items():
        setattr(cfg.INPUT, key, value)
    return cfg


def test_clip_sampling():
    rng = np.random.RandomState(0)
    for _ in range(200):
        frames = sample_clip_frames(30, 3, 4, False, rng)
        assert len(frames) == 3 and frames == sorted(frames)
        assert max(frames) - min(frames) <= 8
    assert sample_clip_frames(1, 2, 5, False, rng) == [0, 0]
    shuffled = [sample_clip_frames(30, 5, 20, True, rng) for _ in range(20)]
    assert any(f != sorted(f) for f in shuffled)


def test_training_clip_tracks_objects(shapes_videos):
    """Without resizing or flipping, each frame's instances are the clip's objects in one
    order, with the decoded ground-truth masks where visible and id -1 elsewhere."""
    record = next(
        r
        for r in DatasetCatalog.get("shapes_video_train")
        if any(
            len({o["id"] for o in f}) != len({o["id"] for frame in r["annotations"] for o in frame})
            for f in r["annotations"]
        )
    )
    size = min(record["height"], record["width"])
    cfg = _cfg(
        MIN_SIZE_TRAIN=(size,),
        MAX_SIZE_TRAIN=10000,
        RANDOM_FLIP="none",
        SAMPLING_FRAME_NUM=3,
        SAMPLING_FRAME_RANGE=20,
    )
    mapper = YTVISDatasetMapper(cfg, is_train=True)
    np.random.seed(3)
    out = mapper(record)
    assert len(out["image"]) == len(out["instances"]) == 3 and len(out["frame_indices"]) == 3
    objects = sorted({o["id"] for t in out["frame_indices"] for o in record["annotations"][t]})
    h, w = record["height"], record["width"]
    for t, instances in zip(out["frame_indices"], out["instances"]):
        assert instances.image_size == (h, w)
        visible = {o["id"]: o for o in record["annotations"][t]}
        assert instances.gt_ids.tolist() == [i if i in visible else -1 for i in objects]
        for row, object_id in enumerate(objects):
            mask = instances.gt_masks.tensor[row].numpy()
            if object_id in visible:
                expected = mask_util.decode(visible[object_id]["segmentation"]).astype(bool)
                np.testing.assert_array_equal(mask, expected)
            else:
                assert not mask.any()
    assert "annotations" not in out and out["file_names"] == [
        record["file_names"][i] for i in out["frame_indices"]
    ]


def test_one_augmentation_per_clip(shapes_videos):
    """Crop, resize, flip and the extra augmentations are drawn once per clip: a clip of
    identical frames stays identical. Per-frame resizing ("choice") draws per frame."""
    record = dict(DatasetCatalog.get("shapes_video_train")[0])
    record["annotations"] = [record["annotations"][0]] * 2
    record["file_names"] = [record["file_names"][0]] * 2
    record["length"] = 2
    cfg = _cfg(
        AUGMENTATIONS=["brightness", "contrast", "saturation", "rotation"], SAMPLING_FRAME_NUM=2
    )
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.CROP.TYPE = "relative_range"
    cfg.INPUT.CROP.SIZE = [0.5, 0.5]
    mapper = YTVISDatasetMapper(cfg, is_train=True)
    for seed in range(8):
        np.random.seed(seed)
        out = mapper(record)
        assert torch.equal(out["image"][0], out["image"][1])
        assert torch.equal(out["instances"][0].gt_masks.tensor, out["instances"][1].gt_masks.tensor)
    per_frame = YTVISDatasetMapper(
        _cfg(MIN_SIZE_TRAIN_SAMPLING="choice", MIN_SIZE_TRAIN=(64, 96, 128)), is_train=True
    )
    sizes = set()
    for seed in range(10):
        np.random.seed(seed)
        out = per_frame(record)
        sizes.add(tuple(out["image"][0].shape) == tuple(out["image"][1].shape))
    assert sizes == {True, False}


def test_inference_mapper_reads_every_frame(shapes_videos):
    record = DatasetCatalog.get("shapes_video_val")[0]
    out = YTVISDatasetMapper(_cfg(), is_train=False)(record)
    assert len(out["image"]) == record["length"] and "instances" not in out
    assert min(out["image"][0].shape[1:]) == 96  # INPUT.MIN_SIZE_TEST
    assert out["video_id"] == record["video_id"] and out["height"] == record["height"]


def test_bad_augmentation_settings_are_one_line_errors():
    with pytest.raises(UserError, match=r"INPUT.AUGMENTATIONS: unknown \['blur'\]"):
        build_clip_augmentations(_cfg(AUGMENTATIONS=["blur"]), True)
    with pytest.raises(UserError, match="INPUT.RANDOM_FLIP='flip'"):
        build_clip_augmentations(_cfg(RANDOM_FLIP="flip"), True)
    with pytest.raises(UserError, match="INPUT.MIN_SIZE_TRAIN_SAMPLING='range_by_frame'"):
        build_clip_augmentations(_cfg(MIN_SIZE_TRAIN_SAMPLING="range_by_frame"), True)


def test_dataset_lists_filter_videos_without_objects(shapes_videos, tmp_path):
    data = _json(shapes_videos, "valid")
    data["annotations"] = [a for a in data["annotations"] if a["video_id"] != 2]
    path = tmp_path / "some_empty.json"
    path.write_text(json.dumps(data))
    image_root = str(shapes_videos / "shapes_video" / "valid" / "JPEGImages")
    register_ytvis_instances("test_ytvis_empty", {}, str(path), image_root)
    assert [r["video_id"] for r in video_dataset_dicts(["test_ytvis_empty"])] == [1, 2, 3]
    assert [
        r["video_id"] for r in video_dataset_dicts(["test_ytvis_empty"], filter_empty=True)
    ] == [1, 3]
