"""Semantic segmentation evaluation that reports ground-truth labels outside the classes.

Detectron2's :class:`~detectron2.evaluation.SemSegEvaluator` maps the ignore label to the
extra row ``num_classes`` of its confusion matrix, so a ground-truth value equal to
``num_classes`` is silently ignored too (an mIoU of nan when all labels are off by one), a
larger value makes the confusion-matrix reshape fail with an unrelated error, and a value that
the image file cannot hold is never seen. Such labels usually mean that the dataset's label
files and its metadata disagree (another class numbering, 1-based ids, a different ignore
value).

Detectron2's evaluator also reports a per-class "BoundaryIoU" computed on the boundary of the
whole class-id map eroded as one mask, which is meaningless per class (a class whose IoU is 0 can
score above 80); here each class's Boundary IoU is that of its own masks
(:func:`~mask2former.evaluation.boundary_iou.class_boundary_overlaps`), under the same keys.
"""

import logging
import os
from collections import OrderedDict

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from detectron2.evaluation.sem_seg_evaluation import load_image_into_numpy_array
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager

from .._private_api import skip_sem_seg_boundary_iou
from .boundary_iou import DEFAULT_DILATION_RATIO, class_boundary_overlaps

__all__ = ["CheckedSemSegEvaluator"]

logger = logging.getLogger(__name__)


class CheckedSemSegEvaluator(SemSegEvaluator):
    """:class:`SemSegEvaluator` whose ground-truth labels outside ``[0, num_classes)`` and the
    dataset's ignore label are reported (a warning naming the file and the values, once per
    file) and then counted as ignored. Metrics of valid ground truth are unchanged; the
    per-class Boundary IoU is computed per class (see the module docstring)."""

    def __init__(
        self,
        dataset_name: str,
        distributed: bool = True,
        output_dir=None,
        dilation_ratio: float = DEFAULT_DILATION_RATIO,
    ):
        metadata = MetadataCatalog.get(dataset_name)
        self._label_classes = list(metadata.stuff_classes)
        self._label_range = len(self._label_classes)
        self._label_ignore = metadata.ignore_label
        self._label_dataset = dataset_name
        self._reported_files = set()
        self._boundary_dilation_ratio = dilation_ratio
        self._boundary_distributed = distributed
        self._boundary_output_dir = output_dir
        self._last_labels = None
        super().__init__(
            dataset_name, distributed, output_dir, sem_seg_loading_fn=self._read_checked_labels
        )
        skip_sem_seg_boundary_iou(self)

    def reset(self):
        super().reset()
        self._boundary_intersection = np.zeros(self._label_range, np.int64)
        self._boundary_union = np.zeros(self._label_range, np.int64)

    def process(self, inputs, outputs):
        for one_input, one_output in zip(inputs, outputs):
            super().process([one_input], [one_output])
            # the ground truth that process() just read, through _read_checked_labels
            gt = self._last_labels
            pred = one_output["sem_seg"].argmax(dim=0).cpu().numpy()
            valid = (gt >= 0) & (gt < self._label_range) & (gt != self._label_ignore)
            intersection, union = class_boundary_overlaps(
                pred, gt, self._label_range, valid, self._boundary_dilation_ratio
            )
            self._boundary_intersection += intersection
            self._boundary_union += union

    def evaluate(self):
        intersection, union = self._boundary_intersection, self._boundary_union
        if self._boundary_distributed:
            # gathered before Detectron2's own gathers, in the same order on every process
            intersection = sum(comm.all_gather(intersection))
            union = sum(comm.all_gather(union))
        results = super().evaluate()
        if results is None:  # not the main process
            return None
        boundary_iou = np.full(self._label_range, np.nan)
        counted = union > 0
        boundary_iou[counted] = intersection[counted] / union[counted]
        class_index = {f"IoU-{name}": i for i, name in enumerate(self._label_classes)}
        metrics = OrderedDict()
        for key, value in results["sem_seg"].items():
            metrics[key] = value
            if key in class_index:  # Detectron2's order: IoU, BoundaryIoU, min of both per class
                name, b_iou = key[len("IoU-") :], 100 * boundary_iou[class_index[key]]
                metrics[f"BoundaryIoU-{name}"] = b_iou
                metrics[f"min(IoU, B-Iou)-{name}"] = min(value, b_iou)
        if self._boundary_output_dir:
            path = os.path.join(self._boundary_output_dir, "sem_seg_evaluation.pth")
            with PathManager.open(path, "wb") as f:
                torch.save(metrics, f)
        return OrderedDict({"sem_seg": metrics})

    def _read_checked_labels(self, filename: str, dtype=int) -> np.ndarray:
        """The label map of ``filename``; values outside the classes become the ignore label."""
        labels = load_image_into_numpy_array(filename, dtype=dtype)
        self._last_labels = labels
        outside = ((labels < 0) | (labels >= self._label_range)) & (labels != self._label_ignore)
        if outside.any():
            if filename not in self._reported_files:
                self._reported_files.add(filename)
                values = np.unique(labels[outside]).tolist()
                logger.warning(
                    f"{filename}: label values {values} ({int(outside.sum())} pixels) are neither "
                    f"one of the {self._label_range} classes (0 to {self._label_range - 1}) of "
                    f"{self._label_dataset} nor its ignore label {self._label_ignore}; they are "
                    "not counted. Check the label files against the dataset's classes."
                )
            labels[outside] = self._label_ignore
        return labels
