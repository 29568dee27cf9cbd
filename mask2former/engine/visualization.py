"""Draw MaskFormer / Mask2Former predictions over images and video frames with Detectron2's
``Visualizer``, class names and colours from the dataset's metadata (demo/demo.py, the
quickstart)."""

import functools
import logging
from typing import Callable, Iterable, Iterator, Tuple

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.data.catalog import Metadata
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, VisImage, Visualizer

from ..checkpoint.fetch import DEFAULT_HINT
from ..errors import UserError
from ..modeling.postprocessing import thing_ids_of
from .predictor import MaskFormerPredictor

logger = logging.getLogger(__name__)

# Which result to draw when the model returns several (panoptic configs turn all three on).
TASKS = ("panoptic", "instance", "semantic")
# the published demo's drawing of a model without panoptic results: instances over the semantic map
SEMANTIC_AND_INSTANCE = "semantic+instance"
DRAWINGS = TASKS + (SEMANTIC_AND_INSTANCE,)
_OUTPUT_KEY = {"panoptic": "panoptic_seg", "instance": "instances", "semantic": "sem_seg"}
# a config that computes panoptic results, to suggest when the asked-for one cannot
PANOPTIC_EXAMPLE = "coco/panoptic_R50.yaml"


class TaskUnavailableError(UserError, ValueError):
    """A --task (or a TEST.*_ON key) that the config's model cannot compute."""


def check_task(cfg, task: str) -> None:
    """Raise :class:`TaskUnavailableError` when the model of ``cfg`` cannot give ``task``
    ("auto" or one of TASKS): it is not turned on, or it is panoptic and the config's dataset
    (DATASETS.TRAIN[0], else TEST[0], as the model reads it) has no thing classes."""
    test = cfg.MODEL.MASK_FORMER.TEST
    datasets = cfg.DATASETS.TRAIN or cfg.DATASETS.TEST
    if (task == "panoptic" or test.PANOPTIC_ON) and (
        not datasets or thing_ids_of(MetadataCatalog.get(datasets[0])) is None
    ):
        dataset = f"its dataset {datasets[0]!r}" if datasets else "it names no dataset and"
        asked = "--task panoptic" if task == "panoptic" else "MODEL.MASK_FORMER.TEST.PANOPTIC_ON"
        raise TaskUnavailableError(
            f"{asked}: this config cannot give panoptic results, {dataset} has no thing "
            f"classes (a semantic segmentation model); draw --task semantic, or use a panoptic "
            f"config such as --config-file {PANOPTIC_EXAMPLE}"
        )
    for part in [] if task == "auto" else task.split("+"):
        if not test.get(f"{part.upper()}_ON"):
            raise TaskUnavailableError(
                f"--task {task}: the config does not turn on {part} inference; add "
                f"`MODEL.MASK_FORMER.TEST.{part.upper()}_ON True` to the command line"
            )


def drawing_metadata(metadata, num_classes: int) -> Metadata:
    """Metadata whose ``stuff_*`` and ``thing_*`` lists are both indexed by the model's labels.

    The model labels masks, instances and panoptic segments with indices over all of its K
    classes, while panoptic registrations list only the things in ``thing_classes``; drawing
    with those would name things after the wrong entry. So the class list of length K
    (``stuff_classes`` of panoptic and semantic data, ``thing_classes`` of instance data) is
    used for both; without one, classes are named "class <index>".
    """
    for kind in ("stuff", "thing"):
        names = metadata.get(f"{kind}_classes")
        if names is not None and len(names) == num_classes:
            colors = metadata.get(f"{kind}_colors")
            break
    else:
        logger.warning(
            f"the metadata of {metadata.name!r} has no list of {num_classes} class names "
            "(MODEL.SEM_SEG_HEAD.NUM_CLASSES); labels are drawn as 'class <index>'"
        )
        names, colors = [f"class {i}" for i in range(num_classes)], None
    lists = {"stuff_classes": names, "thing_classes": names}
    if colors is not None:
        lists.update(stuff_colors=colors, thing_colors=colors)
    return Metadata(name=metadata.name, **lists)


def draw_prediction(
    predictions: dict,
    task: str,
    draw_panoptic: Callable,
    draw_instances: Callable,
    draw_semantic: Callable,
    confidence_threshold: float,
) -> VisImage:
    """Draw the ``task`` result (one of DRAWINGS) of ``predictions`` (the model's output dict
    for one image) with the given drawing functions of a ``Visualizer`` or ``VideoVisualizer``:
    the panoptic segment map and its segments, the instances scoring at least
    ``confidence_threshold``, the per-pixel arg-max of the (K, H, W) semantic scores, or (as
    the published demo draws a model without panoptic results) the instances over the semantic
    map, for functions that draw onto one image (a ``Visualizer``'s)."""
    if task == SEMANTIC_AND_INSTANCE:
        draw_prediction(predictions, "semantic", draw_panoptic, draw_instances, draw_semantic, 0.0)
        task = "instance"
    if task == "panoptic":
        panoptic_seg, segments_info = predictions["panoptic_seg"]
        return draw_panoptic(panoptic_seg.cpu(), segments_info)
    if task == "instance":
        instances = predictions["instances"].to("cpu")
        return draw_instances(instances[instances.scores >= confidence_threshold])
    return draw_semantic(predictions["sem_seg"].argmax(dim=0).cpu())


def draw_on_image(
    visualizer: Visualizer, predictions: dict, task: str, confidence_threshold: float
) -> VisImage:
    """:func:`draw_prediction` with ``visualizer``'s drawing methods."""
    return draw_prediction(
        predictions,
        task,
        visualizer.draw_panoptic_seg,
        visualizer.draw_instance_predictions,
        visualizer.draw_sem_seg,
        confidence_threshold,
    )


class VisualizationDemo:
    """Runs a ``MaskFormerPredictor`` and draws one of its results with Detectron2's
    ``Visualizer`` (images) or ``VideoVisualizer`` (frames, colours kept across frames), with
    class names and colours from the metadata of ``cfg.DATASETS.TEST[0]``."""

    def __init__(
        self,
        cfg,
        *,
        task: str = "auto",
        confidence_threshold: float = 0.5,
        instance_mode: ColorMode = ColorMode.IMAGE,
        random_weights: bool = False,
        weights_hint: str = DEFAULT_HINT,
    ):
        """
        Args:
            task: "panoptic", "instance" or "semantic" to draw that result; "auto" draws the
                first of them (in that order) that the model returns; "semantic+instance" the
                instances over the semantic map (images only).
            confidence_threshold: instances scoring below it are not drawn.
            random_weights, weights_hint: passed to ``MaskFormerPredictor``.

        Raises:
            TaskUnavailableError: the model of ``cfg`` cannot give ``task`` (see
                :func:`check_task`), found before the model is built.
        """
        if task != "auto" and task not in DRAWINGS:
            raise ValueError(f"task must be 'auto' or one of {DRAWINGS}, got {task!r}")
        check_task(cfg, task)
        self.task = task
        self.confidence_threshold = confidence_threshold
        self.instance_mode = instance_mode
        self.predictor = MaskFormerPredictor(
            cfg, random_weights=random_weights, weights_hint=weights_hint
        )
        self.metadata = drawing_metadata(
            self.predictor.metadata, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
        )

    def task_of(self, predictions: dict) -> str:
        """The task whose result is drawn for ``predictions`` (the model's output dict)."""
        if self.task != "auto":
            return self.task
        for task in TASKS:
            if _OUTPUT_KEY[task] in predictions:
                return task
        raise ValueError(f"the model output has none of {sorted(_OUTPUT_KEY.values())}")

    def run_on_image(self, image: np.ndarray) -> Tuple[dict, VisImage]:
        """
        Args:
            image: (H, W, 3) uint8 BGR image.

        Returns:
            the model's output dict and the drawing (``VisImage`` of size H x W; its
            ``get_image()`` is RGB).
        """
        predictions = self.predictor(image)
        visualizer = Visualizer(image[:, :, ::-1], self.metadata, instance_mode=self.instance_mode)
        task = self.task_of(predictions)
        return predictions, draw_on_image(visualizer, predictions, task, self.confidence_threshold)

    def run_on_video(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """
        Args:
            frames: (H, W, 3) uint8 BGR frames of one video.

        Yields:
            the drawn frames, (H, W, 3) uint8 BGR, one per input frame.
        """
        if self.task == SEMANTIC_AND_INSTANCE:
            raise TaskUnavailableError(
                f"--task {SEMANTIC_AND_INSTANCE} draws on images only; for videos choose one of {TASKS}"
            )
        video_visualizer = VideoVisualizer(self.metadata, self.instance_mode)
        for frame in frames:
            predictions = self.predictor(frame)
            rgb = frame[:, :, ::-1]
            vis = draw_prediction(
                predictions,
                self.task_of(predictions),
                functools.partial(video_visualizer.draw_panoptic_seg_predictions, rgb),
                functools.partial(video_visualizer.draw_instance_predictions, rgb),
                functools.partial(video_visualizer.draw_sem_seg, rgb),
                self.confidence_threshold,
            )
            yield np.ascontiguousarray(vis.get_image()[:, :, ::-1])
