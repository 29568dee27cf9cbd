"""Checking a described dataset (``tools/check_dataset.py``): every image and label file that
a description names is read as training will read it, and each problem is reported with the
file and what is wrong; per split, how often each class occurs; pictures of samples with their
ground truth drawn."""

from .dataset import DatasetCheck, check_dataset
from .report import ERROR, WARNING, FileResult, Finding, SplitReport

__all__ = [
    "ERROR",
    "WARNING",
    "DatasetCheck",
    "FileResult",
    "Finding",
    "SplitReport",
    "check_dataset",
]
