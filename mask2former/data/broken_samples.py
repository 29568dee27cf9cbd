"""Training that survives a broken sample.

A training image that cannot be read, or whose labels cannot be (a truncated file, a label of
another size, a class id that is not a class, ...), is skipped: the mapper wrapper
:class:`SkipBrokenSamples` returns None for it, which makes Detectron2's ``MapDataset`` take
another sample in its place, so batches stay full. :class:`BrokenSampleMonitor` (around the
data loader, in the training process) names each broken file once in the log, counts the
skips in the training metrics (``data/broken_samples``: distinct files, ``data/skipped_samples``:
skips; Detectron2's EventStorage, hence ``metrics.json`` and TensorBoard) and stops training
with :class:`TooManyBrokenSamplesError` once more than :data:`MAX_BROKEN_FRACTION` of the
training samples (and more than one) are broken: then the data needs fixing, not skipping.

The mapper runs in the data loader's worker processes; what it skipped travels to the
training process with the next sample it returns (the key :data:`REPORT_KEY`, removed before
the model sees the batch).
"""

import logging
from typing import Dict, Iterable, List, Optional, Tuple

from detectron2.data import build_detection_train_loader, get_detection_dataset_dicts
from detectron2.utils.events import get_event_storage

from ..errors import UserError

__all__ = [
    "MAX_BROKEN_FRACTION",
    "BrokenSampleMonitor",
    "SkipBrokenSamples",
    "TooManyBrokenSamplesError",
    "build_train_loader_skipping_broken",
    "check_broken_fraction",
]

logger = logging.getLogger(__name__)

MAX_BROKEN_FRACTION = 0.01
# the errors of a sample's own files (missing, undecodable, wrong size, bad values, bad records)
SAMPLE_ERRORS = (OSError, ValueError, KeyError)
REPORT_KEY = "_skipped_broken_samples"  # [(file, reason), ...] skipped before this sample
_STOP_KEY = "_too_many_broken_samples"  # the message of a worker that saw too many


class TooManyBrokenSamplesError(UserError, RuntimeError):
    """More training samples are broken than training may skip."""


def _allowed(total: int) -> int:
    return max(1, int(MAX_BROKEN_FRACTION * total))


def _too_many_message(broken: Dict[str, str], total: int, what: str) -> str:
    shown = "; ".join(f"{name} ({reason})" for name, reason in list(broken.items())[:5])
    more = f"; and {len(broken) - 5} more" if len(broken) > 5 else ""
    return (
        f"{len(broken)} of the {total} {what} are broken, more than the "
        f"{MAX_BROKEN_FRACTION:.0%} (at least one) that are skipped: {shown}{more}. Fix or "
        "remove them; `python tools/check_dataset.py DESCRIPTION.yaml` lists every problem "
        "of a described dataset"
    )


def check_broken_fraction(broken: Dict[str, str], total: int, what: str) -> None:
    """Raises :class:`TooManyBrokenSamplesError` when more of ``total`` ``what`` (e.g. "label
    files of my_data.yaml train") are broken than may be skipped. ``broken``: file -> reason."""
    if len(broken) > _allowed(total):
        raise TooManyBrokenSamplesError(_too_many_message(broken, total, what))


class SkipBrokenSamples:
    """Wraps a dataset mapper: a record whose mapping raises one of :data:`SAMPLE_ERRORS`
    gives None (skipped) instead, and is reported with the next sample that maps."""

    def __init__(self, mapper, num_samples: int):
        self.mapper = mapper
        self.num_samples = num_samples
        self._broken: Dict[str, str] = {}  # of this process
        self._unreported: List[Tuple[str, str]] = []
        self._stop: Optional[str] = None

    def __call__(self, record: dict) -> Optional[dict]:
        if self._stop is None:
            try:
                sample = self.mapper(record)
            except SAMPLE_ERRORS as e:
                name, reason = record.get("file_name", "<record>"), str(e) or type(e).__name__
                self._broken[name] = reason
                self._unreported.append((name, reason))
                if len(self._broken) <= _allowed(self.num_samples):
                    return None
                self._stop = _too_many_message(self._broken, self.num_samples, "training samples")
            else:
                if sample is not None and self._unreported:
                    sample[REPORT_KEY], self._unreported = self._unreported, []
                return sample
        # a stand-in that carries the error to the training process (every sample breaking
        # would otherwise keep MapDataset looking for one that maps)
        stand_in = {"width": 1, "height": 1, _STOP_KEY: self._stop, REPORT_KEY: self._unreported}
        self._unreported = []
        return stand_in


class BrokenSampleMonitor:
    """Iterates a training data loader whose mapper is a :class:`SkipBrokenSamples`: logs each
    broken file once, puts the counts into the training metrics and raises
    :class:`TooManyBrokenSamplesError` when too many samples are broken."""

    def __init__(self, loader: Iterable, num_samples: int):
        self.loader = loader
        self.num_samples = num_samples
        self.broken: Dict[str, str] = {}
        self.skipped = 0

    def _take_reports(self, batch: List[dict]) -> None:
        for sample in batch:
            for name, reason in sample.pop(REPORT_KEY, ()):
                self.skipped += 1
                if name not in self.broken:
                    self.broken[name] = reason
                    logger.warning(f"Skipped a broken training sample, {name}: {reason}")
            stop = sample.pop(_STOP_KEY, None)
            if stop is not None:
                raise TooManyBrokenSamplesError(f"Training stopped: {stop}")
        if len(self.broken) > _allowed(self.num_samples):
            raise TooManyBrokenSamplesError(
                "Training stopped: "
                + _too_many_message(self.broken, self.num_samples, "training samples")
            )

    def _put_metrics(self) -> None:
        if not self.skipped:
            return
        try:
            storage = get_event_storage()
        except AssertionError:  # iterated outside a training loop
            return
        storage.put_scalar("data/broken_samples", len(self.broken), smoothing_hint=False)
        storage.put_scalar("data/skipped_samples", self.skipped, smoothing_hint=False)

    def __iter__(self):
        for batch in self.loader:
            self._take_reports(batch)
            self._put_metrics()
            yield batch


def build_train_loader_skipping_broken(cfg, mapper) -> BrokenSampleMonitor:
    """Detectron2's ``build_detection_train_loader(cfg, mapper=mapper)`` (same dataset, sampler
    and batching), skipping broken samples as this module describes."""
    dataset = get_detection_dataset_dicts(
        cfg.DATASETS.TRAIN,
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE
        if cfg.MODEL.KEYPOINT_ON
        else 0,
        proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
    )
    loader = build_detection_train_loader(
        cfg, mapper=SkipBrokenSamples(mapper, len(dataset)), dataset=dataset
    )
    return BrokenSampleMonitor(loader, len(dataset))
