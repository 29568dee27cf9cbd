"""The generated "shapes" dataset: determinism, consistency between its formats, and the
detectron2 evaluators scoring ground truth as prediction perfectly through its registration."""

import filecmp
import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator, COCOPanopticEvaluator, SemSegEvaluator
from detectron2.structures import BitMasks, Boxes, Instances
from panopticapi.utils import rgb2id
from PIL import Image

from mask2former.data.shapes import generate


def _files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


def test_generation_is_deterministic(tmp_path):
    a = generate(str(tmp_path / "a"), num_train=3, num_val=2, seed=7)
    b = generate(str(tmp_path / "b"), num_train=3, num_val=2, seed=7)
    assert _files(a) == _files(b) and len(_files(a)) > 20
    _, mismatch, errors = filecmp.cmpfiles(a, b, _files(a), shallow=False)
    assert not mismatch and not errors
    c = generate(str(tmp_path / "c"), num_train=3, num_val=2, seed=8)
    assert not filecmp.cmp(
        os.path.join(a, "panoptic_train.json"),
        os.path.join(c, "panoptic_train.json"),
        shallow=False,
    )


def test_cli_writes_requested_counts(tmp_path):
    from mask2former.data.shapes import main

    main(["--root", str(tmp_path), "--num-train", "2", "--num-val", "1"])
    assert len(os.listdir(tmp_path / "shapes" / "images" / "train")) == 2
    assert len(os.listdir(tmp_path / "shapes" / "images" / "val")) == 1


def test_formats_agree(shapes_root):
    base = shapes_root / "shapes"
    meta = MetadataCatalog.get("shapes_panoptic_train")
    for split, count in (("train", 8), ("val", 4)):
        panoptic = json.loads((base / f"panoptic_{split}.json").read_text())
        instances = json.loads((base / f"instances_{split}.json").read_text())
        assert len(panoptic["annotations"]) == len(instances["images"]) == count
        by_image = {}
        for ann in instances["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
        for ann in panoptic["annotations"]:
            stem = os.path.splitext(ann["file_name"])[0]
            pan = rgb2id(np.asarray(Image.open(base / f"panoptic_{split}" / ann["file_name"])))
            ids = {s["id"] for s in ann["segments_info"]}
            assert set(np.unique(pan).tolist()) - {0} == ids
            # ADE-style and panoptic-derived semantic maps are the same labels
            ade = np.asarray(Image.open(base / "annotations_detectron2" / split / f"{stem}.png"))
            from_pan = np.asarray(Image.open(base / f"panoptic_semseg_{split}" / f"{stem}.png"))
            assert np.array_equal(ade, from_pan)
            assert set(np.unique(ade).tolist()) <= set(range(7)) | {255}
            # every thing segment has an instance annotation with the same mask
            things = [
                s
                for s in ann["segments_info"]
                if s["category_id"] in meta.thing_dataset_id_to_contiguous_id
            ]
            objs = by_image.get(ann["image_id"], [])
            assert len(objs) == len(things)
            h, w = pan.shape
            for seg, obj in zip(things, objs):
                assert obj["category_id"] == seg["category_id"] and obj["iscrowd"] == seg["iscrowd"]
                segm = obj["segmentation"]
                if isinstance(segm, list):
                    rle = mask_util.merge(mask_util.frPyObjects(segm, h, w))
                else:
                    assert isinstance(segm["counts"], list) == bool(obj["iscrowd"])
                    rle = (
                        mask_util.frPyObjects(segm, h, w)
                        if isinstance(segm["counts"], list)
                        else segm
                    )
                mask = mask_util.decode(rle).astype(bool)
                truth = pan == seg["id"]
                assert (mask & truth).sum() / (mask | truth).sum() >= 0.85


def test_sem_seg_evaluator_scores_ground_truth_perfectly(shapes_root):
    evaluator = SemSegEvaluator("shapes_sem_seg_val", distributed=False)
    evaluator.reset()
    for record in DatasetCatalog.get("shapes_sem_seg_val"):
        gt = torch.from_numpy(np.asarray(Image.open(record["sem_seg_file_name"])).astype(np.int64))
        logits = torch.nn.functional.one_hot(gt.clamp(max=6), 7).permute(2, 0, 1).float()
        evaluator.process([record], [{"sem_seg": logits}])
    result = evaluator.evaluate()["sem_seg"]
    assert result["mIoU"] == pytest.approx(100.0) and result["pACC"] == pytest.approx(100.0)


def test_panoptic_evaluator_scores_ground_truth_perfectly(shapes_root, tmp_path):
    evaluator = COCOPanopticEvaluator("shapes_panoptic_val", output_dir=str(tmp_path))
    evaluator.reset()
    for record in DatasetCatalog.get("shapes_panoptic_val"):
        pan = rgb2id(np.asarray(Image.open(record["pan_seg_file_name"])))
        segments = [
            {"id": s["id"], "category_id": s["category_id"], "isthing": s["isthing"]}
            for s in record["segments_info"]
        ]
        evaluator.process([record], [{"panoptic_seg": (torch.from_numpy(pan), segments)}])
    result = evaluator.evaluate()["panoptic_seg"]
    assert result["PQ"] == pytest.approx(100.0)
    assert result["PQ_th"] == pytest.approx(100.0) and result["PQ_st"] == pytest.approx(100.0)


def test_coco_evaluator_scores_ground_truth_perfectly(shapes_root, tmp_path):
    evaluator = COCOEvaluator(
        "shapes_instance_val", tasks=("segm",), distributed=False, output_dir=str(tmp_path)
    )
    evaluator.reset()
    for record in DatasetCatalog.get("shapes_instance_val"):
        h, w = record["height"], record["width"]
        objs = [a for a in record["annotations"] if not a["iscrowd"]]
        masks = []
        for obj in objs:
            segm = obj["segmentation"]
            rle = (
                mask_util.merge(mask_util.frPyObjects(segm, h, w))
                if isinstance(segm, list)
                else segm
            )
            masks.append(torch.from_numpy(mask_util.decode(rle).astype(bool)))
        instances = Instances((h, w))
        instances.pred_masks = (
            torch.stack(masks) if masks else torch.zeros((0, h, w), dtype=torch.bool)
        )
        instances.pred_boxes = (
            BitMasks(instances.pred_masks).get_bounding_boxes()
            if masks
            else Boxes(torch.zeros(0, 4))
        )
        instances.scores = torch.ones(len(objs))
        instances.pred_classes = torch.tensor([o["category_id"] for o in objs], dtype=torch.int64)
        evaluator.process([record], [{"instances": instances}])
    result = evaluator.evaluate()["segm"]
    assert result["AP"] > 99.0
