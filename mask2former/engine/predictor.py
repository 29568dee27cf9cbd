"""Single-image inference for MaskFormer / Mask2Former, with checked weights.

``MaskFormerPredictor`` is Detectron2's ``DefaultPredictor`` (BGR image in, the model's output
dict out, test-time resize from ``cfg.INPUT.{MIN,MAX}_SIZE_TEST``) except that weights go
through ``MaskFormerCheckpointer``, a config without usable weights is an error (before the
model is built) instead of a silently random model, and the test-time resize, the exported
runtime's too, never makes a side of 0 pixels. Weights named by a URL are downloaded once
into Detectron2's cache (:func:`mask2former.checkpoint.fetch.fetch_weights`). :func:`load_trained_weights`
is that check for every entry point that runs a trained model (the predictor,
``train_net.py --eval-only``, the export tool).
"""

import contextlib
import logging
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor

from ..checkpoint import MaskFormerCheckpointer, UntrainedModelError
from ..checkpoint.fetch import DEFAULT_HINT, MissingWeightsError, fetch_weights
from ..modeling.postprocessing import inference_resize, resized_image

__all__ = [
    "MaskFormerPredictor",
    "MissingWeightsError",
    "UntrainedModelError",
    "load_trained_weights",
]

logger = logging.getLogger(__name__)

# the loggers of Detectron2's and fvcore's checkpointers
_CHECKPOINT_LOGGERS = ("detectron2.checkpoint.detection_checkpoint", "fvcore.common.checkpoint")


def _warning_or_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


@contextlib.contextmanager
def _info_dropped(*names: str):
    """Records below WARNING of the loggers ``names`` are dropped inside the block."""
    loggers = [logging.getLogger(name) for name in names]
    for log in loggers:
        log.addFilter(_warning_or_worse)
    try:
        yield
    finally:
        for log in loggers:
            log.removeFilter(_warning_or_worse)


def load_trained_weights(
    checkpointer: MaskFormerCheckpointer,
    weights: str,
    resume: bool = False,
    hint: str = DEFAULT_HINT,
) -> None:
    """``checkpointer.resume_or_load(weights, resume=resume)``, refusing weights that cannot
    make the model's outputs meaningful: none at all or a local file that does not exist
    (:class:`MissingWeightsError`), a URL that cannot be downloaded
    (:class:`~mask2former.checkpoint.fetch.WeightsDownloadError`), or a file that leaves a tensor of the
    backbone or the segmentation head unloaded, missing or of another shape
    (:class:`UntrainedModelError`, which names what was missing). ``hint`` says how the
    caller's command line takes other weights."""
    if not (resume and checkpointer.has_checkpoint()):
        fetch_weights(weights, hint)
    checkpointer.resume_or_load(os.path.expanduser(weights), resume=resume)
    checkpointer.last_report.require_trained()


class MaskFormerPredictor(DefaultPredictor):
    """
    Runs the model of ``cfg`` on one BGR image of shape (H, W, 3) uint8 and returns the model's
    output for it: a dict with some of "sem_seg" (K, H, W), "panoptic_seg" (a (H, W) int32
    tensor of segment ids, list of segment dicts) and "instances" (``Instances``), at the
    input's size. ``predictor([image, ...])`` or ``predictor.batch(images)`` runs a list of
    images as one batch and returns a list of such dicts.

    Attributes:
        metadata: the metadata of ``cfg.DATASETS.TEST[0]`` (empty when no test set is named).
    """

    def __init__(self, cfg, random_weights: bool = False, weights_hint: str = DEFAULT_HINT):
        """
        Args:
            cfg: a frozen or unfrozen config with ``add_maskformer2_config`` keys.
            random_weights: skip loading ``cfg.MODEL.WEIGHTS`` and keep the random
                initialisation (for smoke tests); otherwise missing weights raise
                ``MissingWeightsError`` (and weights that cannot be downloaded
                ``WeightsDownloadError``) before the model is built, and weights that leave
                the backbone or the head partly untrained ``UntrainedModelError``.
            weights_hint: how the caller takes other weights, ending those errors.
        """
        if cfg.INPUT.FORMAT not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT must be RGB or BGR, got {cfg.INPUT.FORMAT!r}")
        if random_weights:
            logger.warning("--random-weights: MODEL.WEIGHTS is not loaded, predictions are noise")
        else:
            fetch_weights(cfg.MODEL.WEIGHTS, weights_hint)  # refused before the model is built
        # DefaultPredictor builds the model, sets it to eval mode and reads INPUT.FORMAT; its
        # loading through DetectionCheckpointer, which would accept any file, gets no weights
        # (and its "from scratch" message is dropped): MaskFormerCheckpointer loads and checks
        # them below
        no_weights = cfg.clone()
        no_weights.defrost()
        no_weights.MODEL.WEIGHTS = ""
        with _info_dropped(*_CHECKPOINT_LOGGERS):
            super().__init__(no_weights)
        self.cfg = cfg.clone()
        if not len(cfg.DATASETS.TEST):  # DefaultPredictor sets it only from a test set
            self.metadata = MetadataCatalog.get("__unused")
        if not random_weights:
            load_trained_weights(
                MaskFormerCheckpointer(self.model), cfg.MODEL.WEIGHTS, hint=weights_hint
            )
        # the test-time resize of the exported runtime: never a side of 0 pixels
        self.aug = inference_resize(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)

    def model_input(self, original_image: np.ndarray) -> Dict:
        """The model's input dict of one (H, W, 3) uint8 BGR image, as ``DefaultPredictor``
        makes it: "image" (3, h, w) float32 resized, in INPUT.FORMAT order; "height", "width"
        the original size (the size of the results)."""
        height, width = original_image.shape[:2]
        image = resized_image(original_image, self.input_format, self.aug)
        return {"image": image, "height": height, "width": width}

    def __call__(self, original_image: Union[np.ndarray, Sequence[np.ndarray]]):
        """The model's output dict for one (H, W, 3) uint8 BGR image, or for a list of them a
        list of output dicts (:meth:`batch`)."""
        if isinstance(original_image, (list, tuple)):
            return self.batch(original_image)
        with torch.no_grad():
            return self.model([self.model_input(original_image)])[0]

    def batch(self, images: Sequence[np.ndarray], batch_size: Optional[int] = None) -> List[Dict]:
        """The model's output dicts for a list of (H, W, 3) uint8 BGR images, run as batches
        of ``batch_size`` images (default: all in one).

        The model pads the images of a batch to a common size (its size divisibility), so an
        image the same size as the largest of its batch after the test-time resize gets the
        results it gets alone (to float rounding); a smaller image's network input has more
        zero padding, which changes its results slightly, as in Detectron2's batched
        evaluation. Sliding-window inference runs image by image.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch: batch_size must be >= 1, got {batch_size}")
        inputs = [self.model_input(image) for image in images]
        step = batch_size or max(len(inputs), 1)
        with torch.no_grad():
            return [
                result
                for start in range(0, len(inputs), step)
                for result in self.model(inputs[start : start + step])
            ]
