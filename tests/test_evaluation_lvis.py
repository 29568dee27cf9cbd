"""Datasets of evaluator type "lvis" get Detectron2's LVISEvaluator (the published trainer's
branch; the project's subclass runs the lvis package with numpy >= 1.24), run here on a
miniature LVIS-format file whose AP is computed by hand."""

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_lvis_instances
from detectron2.structures import BitMasks, Instances

from helpers.configs import make_tiny_cfg
from mask2former.evaluation import LVISEvaluator, build_evaluator

SIZE = 16
# LVIS category id -> frequency group; the model predicts contiguous class = id - 1
FREQUENCY = {1: "f", 2: "c", 3: "r"}


def _box(y, x, h=4, w=4):
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y : y + h, x : x + w] = True
    return mask


# image 1: two instances of category 1; image 2: one of category 2 and one of category 3, and
# category 1 is verified absent (neg_category_ids)
GROUND_TRUTH = {1: [(1, _box(1, 1)), (1, _box(8, 8))], 2: [(2, _box(2, 2)), (3, _box(9, 9))]}
NEGATIVE = {1: [], 2: [1]}


def _lvis_json(path):
    annotations = []
    for image_id, objects in GROUND_TRUTH.items():
        for category_id, mask in objects:
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                "area": int(mask.sum()), "bbox": [float(v) for v in mask_util.toBbox(rle)],
            })  # fmt: skip
    images = [
        {"id": i, "height": SIZE, "width": SIZE, "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg",
         "neg_category_ids": NEGATIVE[i], "not_exhaustive_category_ids": []}
        for i in GROUND_TRUTH
    ]  # fmt: skip
    categories = [
        {"id": c, "name": f"class{c}", "synset": f"class{c}.n.01", "frequency": f, "image_count": 1, "instance_count": 1}
        for c, f in FREQUENCY.items()
    ]  # fmt: skip
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )


@pytest.fixture
def mini_lvis(tmp_path):
    name = "mini_lvis_val"
    json_file = tmp_path / "lvis_mini.json"
    _lvis_json(json_file)
    register_lvis_instances(name, {}, str(json_file), str(tmp_path) + "/")
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _output(detections):
    """[(category id, mask, score)] -> model output with contiguous classes."""
    instances = Instances((SIZE, SIZE))
    instances.pred_masks = torch.from_numpy(np.stack([m for _, m, _ in detections]))
    instances.pred_boxes = BitMasks(instances.pred_masks).get_bounding_boxes()
    instances.scores = torch.tensor([s for _, _, s in detections])
    instances.pred_classes = torch.tensor([c - 1 for c, _, _ in detections])
    return {"instances": instances}


def test_lvis_dataset_gets_the_lvis_evaluator(mini_lvis, tmp_path):
    cfg = make_tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = False
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = True
    evaluator = build_evaluator(cfg, mini_lvis, str(tmp_path))
    assert isinstance(evaluator, LVISEvaluator)
    evaluator._distributed = False

    outputs = {
        # one of the two category-1 instances; a category-3 detection on an image where
        # category 3 is neither annotated nor verified absent: LVIS does not evaluate it
        1: [(1, _box(1, 1), 0.9), (3, _box(12, 0), 0.99)],
        # both instances found, and a category-1 false positive where it is verified absent,
        # scored above everything of category 1
        2: [(2, _box(2, 2), 0.8), (3, _box(9, 9), 0.5), (1, _box(12, 12), 0.95)],
    }
    evaluator.reset()
    for image_id, detections in outputs.items():
        evaluator.process([{"image_id": image_id}], [_output(detections)])
    segm = evaluator.evaluate()["segm"]
    # category 1: false positive, then the true positive at recall 1/2: interpolated precision
    # 1/2 at the 51 recall points up to 1/2. Categories 2 and 3: AP 1 (masks exact, every IoU).
    ap_1 = 0.5 * 51 / 101
    assert segm["AP"] == pytest.approx(100 * (ap_1 + 1 + 1) / 3)
    assert segm["APf"] == pytest.approx(100 * ap_1)
    assert segm["APc"] == pytest.approx(100.0) and segm["APr"] == pytest.approx(100.0)
    assert not hasattr(np, "float")  # the alias for the lvis package is gone again
