"""The published demo's drawing of a model without panoptic results: the instances over the
semantic map, on one image."""

import numpy as np
import pytest
from detectron2.utils.visualizer import Visualizer

from helpers.configs import make_tiny_cfg_with_outputs
from mask2former.engine.visualization import (
    SEMANTIC_AND_INSTANCE,
    TaskUnavailableError,
    VisualizationDemo,
    check_task,
    draw_on_image,
)


def test_instances_are_drawn_over_the_semantic_map():
    cfg = make_tiny_cfg_with_outputs(semantic=True, instance=True)
    demo = VisualizationDemo(
        cfg, task=SEMANTIC_AND_INSTANCE, confidence_threshold=0.0, random_weights=True
    )
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    predictions, _ = demo.run_on_image(image)

    np.random.seed(0)  # instance colours are random without thing colours
    drawing = draw_on_image(
        Visualizer(image[:, :, ::-1], demo.metadata), predictions, SEMANTIC_AND_INSTANCE, 0.0
    )
    np.random.seed(0)
    by_hand = Visualizer(image[:, :, ::-1], demo.metadata)
    by_hand.draw_sem_seg(predictions["sem_seg"].argmax(dim=0))
    expected = by_hand.draw_instance_predictions(predictions["instances"]).get_image()
    np.testing.assert_array_equal(drawing.get_image(), expected)
    semantic_only = Visualizer(image[:, :, ::-1], demo.metadata).draw_sem_seg(
        predictions["sem_seg"].argmax(dim=0)
    )
    assert not np.array_equal(drawing.get_image(), semantic_only.get_image())


def test_both_results_must_be_turned_on():
    with pytest.raises(TaskUnavailableError, match="does not turn on instance inference"):
        check_task(make_tiny_cfg_with_outputs(semantic=True, instance=False), SEMANTIC_AND_INSTANCE)
    check_task(make_tiny_cfg_with_outputs(semantic=True, instance=True), SEMANTIC_AND_INSTANCE)
