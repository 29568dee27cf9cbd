"""Panoptic quality (PQ, SQ, RQ) of semantic segmentation predictions, as reported for the
semantic models of the MaskFormer and Mask2Former papers.

Each class present in an image's ground truth or prediction is one segment of that image (no
crowd regions); segments are matched as in COCO panoptic evaluation: a predicted and a
ground-truth segment of the same class match when their IoU, with the prediction's pixels on
ignored ground truth left out of the union, exceeds 0.5; an unmatched prediction lying for more
than half on ignored pixels is not a false positive. Everything a segment needs comes from one
confusion matrix per image, which also gives mIoU (computed as Detectron2's ``SemSegEvaluator``
computes it). The per-class sums are averaged by panopticapi's ``PQStat``.

``evaluate_semantic_predictions`` reads the ``sem_seg_predictions.json`` that Detectron2's
``SemSegEvaluator`` writes to its output folder and the ground truth of a registered dataset.
"""

import json
import os
from typing import Dict, List, Optional

import numpy as np
import pycocotools.mask as mask_util
from detectron2.data import DatasetCatalog, MetadataCatalog
from panopticapi.evaluation import PQStat

from ..data.image_io import read_label_map
from ..errors import UserError

__all__ = ["PredictionFileError", "SemanticPQ", "evaluate_semantic_predictions"]


class PredictionFileError(UserError, ValueError):
    """A predictions file that cannot be evaluated against the dataset."""


class SemanticPQ:
    """Accumulates (ground truth, prediction) label maps and computes PQ / SQ / RQ and mIoU.

    Args:
        num_classes: K; labels are 0..K-1.
        ignore_label: ground-truth value of unlabeled pixels (predictions never hold it).
    """

    def __init__(self, num_classes: int, ignore_label: int):
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.tp = np.zeros(num_classes, np.int64)
        self.fp = np.zeros(num_classes, np.int64)
        self.fn = np.zeros(num_classes, np.int64)
        self.iou_sum = np.zeros(num_classes, np.float64)
        # rows: ground truth (K = ignored), columns: prediction
        self.confusion = np.zeros((num_classes + 1, num_classes), np.int64)
        self.num_images = 0

    def _image_confusion(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        k = self.num_classes
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
        if pred.size and (pred.min() < 0 or pred.max() >= k):
            raise ValueError(
                f"predicted labels must lie in [0, {k}), got {pred.min()}..{pred.max()}"
            )
        gt = gt.astype(np.int64)
        valid = (gt >= 0) & (gt < k)
        if not np.all(valid | (gt == self.ignore_label)):
            bad = sorted(set(np.unique(gt[~valid]).tolist()) - {self.ignore_label})
            raise ValueError(
                f"ground-truth labels {bad[:5]} are neither classes nor {self.ignore_label}"
            )
        rows = np.where(valid, gt, k)
        counts = np.bincount(
            rows.ravel() * k + pred.astype(np.int64).ravel(), minlength=(k + 1) * k
        )
        return counts.reshape(k + 1, k)

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add one image: ``gt`` and ``pred`` are (H, W) integer label maps."""
        confusion = self._image_confusion(gt, pred)
        k = self.num_classes
        intersection = np.diagonal(confusion).astype(np.float64)
        gt_area = confusion[:k].sum(axis=1)
        pred_area = confusion.sum(axis=0)
        on_ignored = confusion[k]
        union = gt_area + pred_area - intersection - on_ignored
        iou = np.divide(intersection, union, out=np.zeros(k), where=union > 0)
        matched = (gt_area > 0) & (pred_area > 0) & (iou > 0.5)
        self.tp += matched
        self.iou_sum += np.where(matched, iou, 0.0)
        self.fn += (gt_area > 0) & ~matched
        mostly_ignored = on_ignored > 0.5 * pred_area
        self.fp += (pred_area > 0) & ~matched & ~mostly_ignored
        self.confusion += confusion
        self.num_images += 1

    def pq_stat(self) -> PQStat:
        """The accumulated counts as panopticapi's PQStat (keyed by class index)."""
        stat = PQStat()
        for c in range(self.num_classes):
            stat[c].tp, stat[c].fp, stat[c].fn = int(self.tp[c]), int(self.fp[c]), int(self.fn[c])
            stat[c].iou = float(self.iou_sum[c])
        return stat

    def miou(self) -> float:
        """Mean IoU over the classes present in the ground truth (Detectron2's definition)."""
        k = self.num_classes
        tp = np.diagonal(self.confusion).astype(np.float64)
        pos_gt = self.confusion[:k].sum(axis=1)
        pos_pred = self.confusion[:k].sum(axis=0)  # pixels on ignored ground truth left out
        union = pos_gt + pos_pred - tp
        valid = (pos_gt > 0) & (union > 0)
        return float(np.mean(tp[valid] / union[valid])) if valid.any() else float("nan")

    def results(self) -> Dict:
        """{"PQ", "SQ", "RQ", "mIoU"} in percent, "num_classes" (classes with a segment in
        some image, the ones PQ averages), "num_images", and "per_class": {class index:
        {"PQ", "SQ", "RQ"}} for those classes."""
        counted = (self.tp + self.fp + self.fn) > 0
        if not counted.any():  # nothing but ignored pixels: PQ is undefined
            average, per_class = {"pq": np.nan, "sq": np.nan, "rq": np.nan, "n": 0}, {}
        else:
            categories = {c: {"isthing": 0} for c in range(self.num_classes)}
            average, per_class = self.pq_stat().pq_average(categories, isthing=None)
        return {
            "PQ": 100 * average["pq"],
            "SQ": 100 * average["sq"],
            "RQ": 100 * average["rq"],
            "mIoU": 100 * self.miou(),
            "num_classes": average["n"],
            "num_images": self.num_images,
            "per_class": {
                c: {key.upper(): 100 * value for key, value in per_class[c].items()}
                for c in np.flatnonzero(counted).tolist()
            },
        }


def _load_predictions(json_file: str) -> Dict[str, List[dict]]:
    try:
        with open(json_file) as f:
            predictions = json.load(f)
    except FileNotFoundError:
        raise PredictionFileError(f"{json_file}: file not found") from None
    except json.JSONDecodeError as e:
        raise PredictionFileError(f"{json_file}: not valid JSON ({e})") from None
    if not isinstance(predictions, list) or any(
        not isinstance(p, dict) or not {"file_name", "category_id", "segmentation"} <= p.keys()
        for p in predictions
    ):
        raise PredictionFileError(
            f"{json_file}: expected a list of {{file_name, category_id, segmentation}} "
            "(the sem_seg_predictions.json that Detectron2's SemSegEvaluator writes)"
        )
    by_file: Dict[str, List[dict]] = {}
    for p in predictions:
        by_file.setdefault(p["file_name"], []).append(p)
    return by_file


def _prediction_map(
    segments: List[dict], to_contiguous: Optional[Dict[int, int]], where: str, shape
):
    """The (H, W) label map painted from one image's per-class RLE masks."""
    pred = np.full(shape, -1, np.int64)
    for segment in segments:
        category_id = segment["category_id"]
        label = category_id if to_contiguous is None else to_contiguous.get(category_id)
        if label is None:
            raise PredictionFileError(
                f"{where}: category_id {category_id} is not a class of the dataset"
            )
        rle = dict(segment["segmentation"])
        if tuple(rle["size"]) != tuple(shape):
            raise PredictionFileError(
                f"{where}: a mask of size {rle['size']} for a ground truth of size {list(shape)}"
            )
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
        pred[mask_util.decode(rle).astype(bool)] = label
    uncovered = int((pred < 0).sum())
    if uncovered:
        raise PredictionFileError(f"{where}: the masks leave {uncovered} pixels without a class")
    return pred


def evaluate_semantic_predictions(json_file: str, dataset_name: str) -> Dict:
    """PQ / SQ / RQ and mIoU (percent) of the predictions in ``json_file`` against the ground
    truth of the registered semantic dataset ``dataset_name``, over the images that have
    predictions (see :meth:`SemanticPQ.results` for the keys; "per_class" is keyed by class
    name).

    ``json_file`` holds Detectron2's semantic prediction format: a list of
    ``{"file_name": image path, "category_id": dataset class id, "segmentation": RLE}``, one
    entry per class present in an image; category ids are mapped back to class indices through
    the dataset's ``stuff_dataset_id_to_contiguous_id`` when it has one.
    """
    predictions = _load_predictions(json_file)
    meta = MetadataCatalog.get(dataset_name)
    classes = meta.get("stuff_classes")
    if classes is None:
        raise PredictionFileError(
            f"dataset {dataset_name!r} has no stuff_classes: not a semantic dataset"
        )
    gt_files = {
        os.path.normpath(r["file_name"]): r.get("sem_seg_file_name")
        for r in DatasetCatalog.get(dataset_name)
    }
    metric = SemanticPQ(len(classes), meta.get("ignore_label", 255))
    to_contiguous = meta.get("stuff_dataset_id_to_contiguous_id")
    for file_name, segments in sorted(predictions.items()):
        gt_file = gt_files.get(os.path.normpath(file_name))
        if gt_file is None:
            raise PredictionFileError(
                f"{json_file}: predictions for {file_name}, which is not an image of dataset "
                f"{dataset_name!r} with a semantic ground truth"
            )
        gt = read_label_map(gt_file)
        pred = _prediction_map(segments, to_contiguous, f"{json_file}, {file_name}", gt.shape)
        try:
            metric.add(gt, pred)
        except ValueError as e:
            raise PredictionFileError(f"{file_name} (ground truth {gt_file}): {e}") from None
    if not metric.num_images:
        raise PredictionFileError(f"{json_file}: holds no predictions")
    results = metric.results()
    results["per_class"] = {classes[c]: v for c, v in results["per_class"].items()}
    return results
