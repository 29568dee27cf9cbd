"""Semantic segmentation evaluation that reports ground-truth labels outside the classes.

Detectron2's :class:`~detectron2.evaluation.SemSegEvaluator` maps the ignore label to the
extra row ``num_classes`` of its confusion matrix, so a ground-truth value equal to
``num_classes`` is silently ignored too (an mIoU of nan when all labels are off by one), a
larger value makes the confusion-matrix reshape fail with an unrelated error, and a value that
the image file cannot hold is never seen. Such labels usually mean that the dataset's label
files and its metadata disagree (another class numbering, 1-based ids, a different ignore
value).
"""
import logging

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from detectron2.evaluation.sem_seg_evaluation import load_image_into_numpy_array

__all__ = ["CheckedSemSegEvaluator"]

logger = logging.getLogger(__name__)


class CheckedSemSegEvaluator(SemSegEvaluator):
    """:class:`SemSegEvaluator` whose ground-truth labels outside ``[0, num_classes)`` and the
    dataset's ignore label are reported (a warning naming the file and the values, once per
    file) and then counted as ignored. Metrics of valid ground truth are unchanged."""

    def __init__(self, dataset_name: str, distributed: bool = True, output_dir=None):
        metadata = MetadataCatalog.get(dataset_name)
        self._label_range = len(metadata.stuff_classes)
        self._label_ignore = metadata.ignore_label
        self._label_dataset = dataset_name
        self._reported_files = set()
        super().__init__(
            dataset_name, distributed, output_dir, sem_seg_loading_fn=self._read_checked_labels
        )

    def _read_checked_labels(self, filename: str, dtype=int) -> np.ndarray:
        """The label map of ``filename``; values outside the classes become the ignore label."""
        labels = load_image_into_numpy_array(filename, dtype=dtype)
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
