"""Evaluators chosen by build_evaluator, run on the generated shapes data with perfect and with
deliberately wrong predictions whose metric values are computed here by hand."""

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import (
    COCOEvaluator,
    COCOPanopticEvaluator,
    DatasetEvaluators,
)
from detectron2.structures import BitMasks, Instances
from panopticapi.utils import rgb2id
from PIL import Image
from pycocotools.coco import COCO

from helpers.configs import make_tiny_cfg_with_outputs
from mask2former.evaluation import (
    CheckedSemSegEvaluator,
    InstanceSegEvaluator,
    build_evaluator,
)

pytestmark = pytest.mark.usefixtures("shapes_root")  # the generated shapes datasets


def _run(evaluator, records, make_output):
    evaluator.reset()
    for record in records:
        evaluator.process([record], [make_output(record)])
    return evaluator.evaluate()


# ---- semantic ----
def _semantic_gt(record):
    return np.array(Image.open(record["sem_seg_file_name"]), dtype=np.int64)


def _scores_for(labels, num_classes):
    """(K, H, W) scores whose argmax is ``labels`` (ignored pixels get class 0)."""
    labels = torch.from_numpy(np.where(labels == 255, 0, labels))
    return torch.nn.functional.one_hot(labels, num_classes).permute(2, 0, 1).float()


def test_semantic_perfect_and_wrong(tmp_path):
    name = "shapes_sem_seg_val"
    evaluator = build_evaluator(make_tiny_cfg_with_outputs(), name, str(tmp_path))
    assert isinstance(evaluator, CheckedSemSegEvaluator)
    records = DatasetCatalog.get(name)
    k = len(MetadataCatalog.get(name).stuff_classes)

    perfect = _run(evaluator, records, lambda r: {"sem_seg": _scores_for(_semantic_gt(r), k)})
    for metric in ("mIoU", "fwIoU", "mACC", "pACC"):
        assert perfect["sem_seg"][metric] == pytest.approx(100.0), metric

    shifted = _run(
        evaluator,
        records,
        lambda r: {
            "sem_seg": _scores_for(
                np.where(_semantic_gt(r) == 255, 255, (_semantic_gt(r) + 1) % k), k
            )
        },
    )
    for metric in ("mIoU", "fwIoU", "mACC", "pACC"):
        assert shifted["sem_seg"][metric] == pytest.approx(0.0), metric

    # one class everywhere: IoU of that class = its pixel share, 0 for the others present
    gts = np.concatenate([_semantic_gt(r).ravel() for r in records])
    gts = gts[gts != 255]
    counts = np.bincount(gts, minlength=k)
    majority = int(counts.argmax())
    constant = _run(
        evaluator,
        records,
        lambda r: {"sem_seg": _scores_for(np.full_like(_semantic_gt(r), majority), k)},
    )["sem_seg"]
    share = counts[majority] / counts.sum()
    assert constant["pACC"] == pytest.approx(100 * share)
    assert constant["mIoU"] == pytest.approx(100 * share / np.count_nonzero(counts))
    assert constant["mACC"] == pytest.approx(100 / np.count_nonzero(counts))


# ---- panoptic (several evaluators at once) ----
def _panoptic_gt(record):
    seg = torch.from_numpy(
        rgb2id(np.array(Image.open(record["pan_seg_file_name"]))).astype(np.int32)
    )
    segments = [
        {"id": s["id"], "category_id": s["category_id"], "isthing": bool(s["isthing"])}
        for s in record["segments_info"]
    ]
    return seg, segments


def _without_things(record):
    seg, segments = _panoptic_gt(record)
    for s in segments:
        if s["isthing"]:
            seg[seg == s["id"]] = 0  # void
    return seg, [s for s in segments if not s["isthing"]]


def test_panoptic_evaluators_selected_by_task_flags(tmp_path):
    name = "shapes_panoptic_val"
    only_pq = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=False, panoptic=True), name, str(tmp_path)
    )
    assert isinstance(only_pq, COCOPanopticEvaluator)
    all_three = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=True, instance=True, panoptic=True), name, str(tmp_path)
    )
    assert isinstance(all_three, DatasetEvaluators)
    assert [type(e) for e in all_three._evaluators] == [
        COCOPanopticEvaluator,
        InstanceSegEvaluator,
        CheckedSemSegEvaluator,
    ]
    with pytest.raises(NotImplementedError, match="MODEL.MASK_FORMER.TEST"):
        build_evaluator(make_tiny_cfg_with_outputs(semantic=False), name, str(tmp_path))


@pytest.fixture
def panoptic_without_semantic_labels():
    """shapes_panoptic_val as detectron2 registers coco_2017_val_panoptic: records without
    sem_seg_file_name, metadata without sem_seg_root."""
    name = "shapes_panoptic_val_without_sem_seg"
    source = MetadataCatalog.get("shapes_panoptic_val").as_dict()
    DatasetCatalog.register(
        name,
        lambda: [
            {k: v for k, v in r.items() if k != "sem_seg_file_name"}
            for r in DatasetCatalog.get("shapes_panoptic_val")
        ],
    )
    MetadataCatalog.get(name).set(
        **{k: v for k, v in source.items() if k not in ("name", "sem_seg_root")}
    )
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_panoptic_dataset_without_semantic_labels_is_evaluated_without_miou(
    panoptic_without_semantic_labels, tmp_path, caplog
):
    """The MaskFormer COCO panoptic configs return the semantic result too, and test on
    coco_2017_val_panoptic, which has no semantic labels: PQ only, as in the MaskFormer
    release (SemSegEvaluator used to fail there with KeyError: 'sem_seg_file_name')."""
    name = panoptic_without_semantic_labels
    with caplog.at_level("INFO", logger="mask2former.evaluation.build"):
        evaluator = build_evaluator(
            make_tiny_cfg_with_outputs(semantic=True, panoptic=True), name, str(tmp_path)
        )
    assert isinstance(evaluator, COCOPanopticEvaluator)
    assert f"Dataset {name!r} has no semantic labels" in caplog.text
    records = DatasetCatalog.get(name)
    results = _run(evaluator, records, lambda r: {"panoptic_seg": _panoptic_gt(r)})
    assert results["panoptic_seg"]["PQ"] == pytest.approx(100.0)
    with pytest.raises(NotImplementedError, match="with the ground truth it needs"):
        build_evaluator(make_tiny_cfg_with_outputs(semantic=True), name, str(tmp_path))


def _perfect_panoptic_run(evaluator, name):
    """Run ``evaluator`` on ``name`` with panoptic, instance and semantic outputs all equal to
    the ground truth."""
    meta = MetadataCatalog.get(name)
    coco = COCO(meta.json_file)
    k = len(meta.stuff_classes)

    def perfect(record):
        return {
            "panoptic_seg": _panoptic_gt(record),
            **_instances(coco, record, meta.thing_dataset_id_to_contiguous_id),
            "sem_seg": _scores_for(_semantic_gt(record), k),
        }

    return _run(evaluator, DatasetCatalog.get(name), perfect)


def _assert_perfect(results):
    for group in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"):
        assert results["panoptic_seg"][group] == pytest.approx(100.0), group
    assert results["segm"]["AP"] == pytest.approx(100.0)
    assert results["sem_seg"]["mIoU"] == pytest.approx(100.0)


def test_panoptic_perfect_and_without_things(tmp_path):
    name = "shapes_panoptic_val"
    records = DatasetCatalog.get(name)
    evaluator = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=True, instance=True, panoptic=True), name, str(tmp_path)
    )
    _assert_perfect(_perfect_panoptic_run(evaluator, name))

    pq_only = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=False, panoptic=True), name, str(tmp_path)
    )
    wrong = _run(pq_only, records, lambda r: {"panoptic_seg": _without_things(r)})["panoptic_seg"]
    # every thing category with a (non-crowd) ground-truth segment scores 0, every stuff one 100
    present = {
        (s["category_id"], bool(s["isthing"]))
        for r in records
        for s in r["segments_info"]
        if not s["iscrowd"]
    }
    num_things = sum(isthing for _, isthing in present)
    assert wrong["PQ_th"] == pytest.approx(0.0)
    assert wrong["PQ_st"] == pytest.approx(100.0)
    assert wrong["PQ"] == pytest.approx(100.0 * (len(present) - num_things) / len(present))


# ---- instances ----
def _instances(coco, record, to_contiguous, keep_ids=None):
    """Instances predicted exactly as the non-crowd ground truth of ``record`` (score 1);
    only the annotations in ``keep_ids`` when given."""
    image = coco.imgs[record["image_id"]]
    h, w = image["height"], image["width"]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[record["image_id"]], iscrowd=False))
    masks, classes = [], []
    for ann in anns:
        if keep_ids is None or ann["id"] in keep_ids:
            masks.append(coco.annToMask(ann).astype(bool))
            classes.append(to_contiguous[ann["category_id"]])
    instances = Instances((h, w))
    instances.pred_masks = (
        torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, h, w, dtype=torch.bool)
    )
    instances.pred_boxes = BitMasks(instances.pred_masks).get_bounding_boxes()
    instances.scores = torch.ones(len(masks))
    instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
    return {"instances": instances}


def _first_half_and_expected_ap(coco, image_ids):
    """Ids of the first half (rounded down) of each category's non-crowd instances, and the
    COCO AP (101 recall points) of predicting exactly those with score 1: per category,
    precision 1 up to recall r_c = kept / total and nothing beyond; no detection gives 0."""
    recall_thresholds = np.linspace(0.0, 1.0, 101)
    keep_ids, aps = set(), []
    for category_id in coco.getCatIds():
        ids = sorted(coco.getAnnIds(imgIds=image_ids, catIds=[category_id], iscrowd=False))
        if not ids:
            continue  # COCOeval leaves categories without ground truth out of the mean
        kept = len(ids) // 2
        keep_ids.update(ids[:kept])
        aps.append(np.count_nonzero(recall_thresholds <= kept / len(ids)) / 101 if kept else 0.0)
    return keep_ids, 100 * float(np.mean(aps))


def test_instance_perfect_half_and_wrong_classes(tmp_path):
    name = "shapes_instance_val"
    meta = MetadataCatalog.get(name)
    records = DatasetCatalog.get(name)
    coco = COCO(meta.json_file)
    to_contiguous = meta.thing_dataset_id_to_contiguous_id
    evaluator = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=False, instance=True), name, str(tmp_path)
    )
    assert isinstance(evaluator, COCOEvaluator)

    perfect = _run(evaluator, records, lambda r: _instances(coco, r, to_contiguous))
    assert perfect["segm"]["AP"] == pytest.approx(100.0)

    keep_ids, expected = _first_half_and_expected_ap(coco, [r["image_id"] for r in records])
    assert 0 < expected < 100, expected
    half = _run(evaluator, records, lambda r: _instances(coco, r, to_contiguous, keep_ids))
    assert half["segm"]["AP"] == pytest.approx(expected, abs=1e-6)

    num_things = len(meta.thing_classes)
    wrong = _run(
        evaluator,
        records,
        lambda r: _instances(coco, r, {k: (v + 1) % num_things for k, v in to_contiguous.items()}),
    )
    assert wrong["segm"]["AP"] == pytest.approx(0.0)


@pytest.fixture
def subset_thing_dataset():
    """shapes instances registered like ADE20K's panoptic split: thing contiguous ids 3..6 among
    7 classes (stuff first), so detectron2's COCOEvaluator refuses them."""
    name = "shapes_instance_val_subset_ids"
    source = MetadataCatalog.get("shapes_instance_val")
    DatasetCatalog.register(name, lambda: DatasetCatalog.get("shapes_instance_val"))
    MetadataCatalog.get(name).set(
        json_file=source.json_file,
        evaluator_type="ade20k_panoptic_seg",
        thing_classes=source.thing_classes,
        thing_dataset_id_to_contiguous_id={
            k: v + 3 for k, v in source.thing_dataset_id_to_contiguous_id.items()
        },
    )
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_instance_evaluator_for_non_contiguous_thing_ids(tmp_path, subset_thing_dataset):
    name = subset_thing_dataset
    meta = MetadataCatalog.get(name)
    records = DatasetCatalog.get(name)
    coco = COCO(meta.json_file)
    evaluator = build_evaluator(
        make_tiny_cfg_with_outputs(semantic=False, instance=True), name, str(tmp_path)
    )
    assert isinstance(evaluator, InstanceSegEvaluator)
    to_contiguous = meta.thing_dataset_id_to_contiguous_id
    results = _run(evaluator, records, lambda r: _instances(coco, r, to_contiguous))
    assert results["segm"]["AP"] == pytest.approx(100.0)

    with pytest.raises(AssertionError):  # what this evaluator exists for
        _run(
            COCOEvaluator(name, output_dir=str(tmp_path)),
            records,
            lambda r: _instances(coco, r, to_contiguous),
        )

    stuff_prediction = {k: 0 for k in to_contiguous}  # class 0 is a stuff class here
    with pytest.raises(ValueError, match="not a thing class"):
        _run(evaluator, records, lambda r: _instances(coco, r, stuff_prediction))


def test_ade20k_panoptic_type_scores_all_three_tasks(tmp_path):
    """The shapes panoptic data registered as an ADE20K-style panoptic dataset."""
    name = "shapes_panoptic_val_as_ade20k"
    source = MetadataCatalog.get("shapes_panoptic_val").as_dict()
    DatasetCatalog.register(name, lambda: DatasetCatalog.get("shapes_panoptic_val"))
    metadata = {k: v for k, v in source.items() if k not in ("name", "evaluator_type")}
    MetadataCatalog.get(name).set(evaluator_type="ade20k_panoptic_seg", **metadata)
    try:
        evaluators = build_evaluator(
            make_tiny_cfg_with_outputs(semantic=True, instance=True, panoptic=True),
            name,
            str(tmp_path),
        )
        assert [type(e) for e in evaluators._evaluators] == [
            COCOPanopticEvaluator,
            InstanceSegEvaluator,
            CheckedSemSegEvaluator,
        ]
        _assert_perfect(_perfect_panoptic_run(evaluators, name))
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_unknown_evaluator_type_is_reported(tmp_path):
    name = "shapes_no_evaluator"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(evaluator_type="lidar")
    try:
        with pytest.raises(NotImplementedError, match="'lidar'"):
            build_evaluator(make_tiny_cfg_with_outputs(), name, str(tmp_path))
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
