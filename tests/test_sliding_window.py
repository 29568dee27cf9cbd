"""Sliding-window semantic inference (MODEL.MASK_FORMER.TEST.SLIDING_WINDOW): the windows, the
averaging of overlapping windows by hand, and the model and exported runtime against
whole-image inference."""

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from helpers.configs import make_tiny_cfg
from mask2former.config import add_inference_options_config
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.export import ExportableMaskFormer, ExportedPredictor
from mask2former.modeling.postprocessing import (
    InferenceOptionError,
    InferenceSpec,
    crop_and_resize,
    sliding_window_scores,
    window_boxes,
)


def test_windows_step_by_the_stride_and_the_last_one_ends_at_the_border():
    assert window_boxes((10, 10), (4, 4), (3, 3)) == [
        (y, x, y + 4, x + 4) for y in (0, 3, 6) for x in (0, 3, 6)
    ]
    # 11 pixels: starts 0, 3, 6 and the last one moved back to end at 11
    assert [b[1] for b in window_boxes((4, 11), (4, 4), (3, 3))] == [0, 3, 6, 7]
    # a side no longer than the window: one window of the whole side
    assert window_boxes((3, 10), (4, 10), (2, 5)) == [(0, 0, 3, 10)]
    assert window_boxes((5, 8), (5, 8), (5, 8)) == [(0, 0, 5, 8)]


def test_overlapping_windows_are_averaged():
    """A 1 x 6 image, windows of 1 x 4 every 2 pixels: columns 0-3 and 2-5. The first window
    scores 1, the second 3 (one class): columns 2-3 are covered by both and get 2."""
    calls = []

    def window_scores(crop):
        calls.append(tuple(crop[0, 0].tolist()))
        return torch.full((1, *crop.shape[-2:]), 1.0 if len(calls) == 1 else 3.0)

    image = torch.arange(6.0).view(1, 1, 6).expand(3, 1, 6)
    scores = sliding_window_scores(image, (1, 4), (1, 2), window_scores)
    assert calls == [(0.0, 1.0, 2.0, 3.0), (2.0, 3.0, 4.0, 5.0)]  # the crops of the image
    assert scores.tolist() == [[[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]]


def test_three_windows_over_a_pixel_average_all_three():
    """3 x 3 windows every pixel over a 1 x 5 row (height 1 < 3: one window high): windows
    at x = 0, 1, 2 scoring 0, 3, 6; column 2 is in all three (mean 3), column 1 in the
    first two (1.5), column 3 in the last two (4.5)."""
    values = iter([0.0, 3.0, 6.0])

    def window_scores(crop):
        return torch.full((2, *crop.shape[-2:]), next(values))

    scores = sliding_window_scores(torch.zeros(3, 1, 5), (3, 3), (1, 1), window_scores)
    assert scores.shape == (2, 1, 5)
    assert scores[0, 0].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]


def _semantic_model(window=None, stride=None, before=False):
    cfg = make_tiny_cfg()
    add_inference_options_config(cfg)
    cfg.MODEL.MASK_FORMER.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE = before
    if window is not None:
        cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW.ENABLED = True
        cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW.SIZE = list(window)
        cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW.STRIDE = list(stride)
    return build_model(cfg).eval()


@pytest.mark.parametrize(
    "before, output_size",
    [(False, (64, 48)), (True, (64, 48)), (False, (90, 70))],
    ids=["resize-after", "resize-before", "resize-after-to-another-size"],
)
def test_a_window_covering_the_image_is_whole_image_inference(before, output_size):
    whole = _semantic_model(before=before)
    sliding = _semantic_model((64, 64), (32, 32), before=before)
    sliding.load_state_dict(whole.state_dict())
    inputs = [
        {"image": torch.randint(0, 256, (3, 64, 48)).float(), "height": output_size[0],
         "width": output_size[1]}
    ]  # fmt: skip
    with torch.no_grad():
        expected, result = whole(inputs)[0], sliding(inputs)[0]
    assert set(result) == {"sem_seg"} and result["sem_seg"].shape == (5, *output_size)
    assert torch.equal(result["sem_seg"], expected["sem_seg"])


def test_windows_smaller_than_the_image_average_whole_image_inference_of_each_window():
    """A 64 x 96 image, 64 x 64 windows every 32 pixels: windows at x = 0 and 32, overlapping
    in columns 32-63. Each window's scores are the model's own results for that crop."""
    whole = _semantic_model()
    sliding = _semantic_model((64, 64), (32, 32))
    sliding.load_state_dict(whole.state_dict())
    image = torch.randint(0, 256, (3, 64, 96)).float()
    with torch.no_grad():
        result = sliding([{"image": image, "height": 32, "width": 48}])[0]["sem_seg"]
        left, right = (whole([{"image": image[:, :, x : x + 64]}])[0]["sem_seg"] for x in (0, 32))
    expected = torch.zeros(5, 64, 96)
    expected[:, :, :32] = left[:, :, :32]
    expected[:, :, 32:64] = (left[:, :, 32:] + right[:, :, :32]) / 2
    expected[:, :, 64:] = right[:, :, 32:]
    torch.testing.assert_close(result, crop_and_resize(expected, (64, 96), 32, 48))


def test_exported_runtime_slides_the_same_windows():
    """ExportedPredictor with a sliding-window spec, fed by the PyTorch network (as any runtime
    of the exported network), gives the predictor's results."""
    cfg = make_tiny_cfg()
    add_inference_options_config(cfg)
    window = cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW
    window.ENABLED, window.SIZE, window.STRIDE = True, [64, 64], [40, 40]
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 100, 200
    predictor = MaskFormerPredictor(cfg, random_weights=True)
    network = ExportableMaskFormer(predictor.model).eval()
    runtime = ExportedPredictor.__new__(ExportedPredictor)  # no file: the network is PyTorch
    runtime.spec = InferenceSpec.from_json(predictor.model.inference_spec.to_json())
    runtime.network = lambda images: network(torch.from_numpy(images))
    image = np.random.default_rng(0).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    with torch.no_grad():
        expected, result = predictor(image), runtime(image)
    assert result["sem_seg"].shape == (5, 50, 80)
    torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"PANOPTIC_ON": True}, r"SLIDING_WINDOW.ENABLED is for semantic inference only"),
        ({"INSTANCE_ON": True}, r"SLIDING_WINDOW.ENABLED is for semantic inference only"),
        ({"SLIDING_WINDOW.STRIDE": [64, 65]}, r"SLIDING_WINDOW.STRIDE \[64, 65\] is larger"),
        ({"SLIDING_WINDOW.SIZE": [64]}, r"SLIDING_WINDOW.SIZE must be two integers >= 1"),
        ({"SLIDING_WINDOW.STRIDE": [0, 8]}, r"SLIDING_WINDOW.STRIDE must be two integers >= 1"),
    ],
)
def test_sliding_window_settings_that_cannot_work_are_refused(changes, message):
    cfg = make_tiny_cfg()
    add_inference_options_config(cfg)
    test = cfg.MODEL.MASK_FORMER.TEST
    test.SLIDING_WINDOW.ENABLED = True
    test.SLIDING_WINDOW.SIZE, test.SLIDING_WINDOW.STRIDE = [64, 64], [32, 32]
    for key, value in changes.items():
        node, _, leaf = key.rpartition(".")
        (test[node] if node else test)[leaf] = value
    with pytest.raises(InferenceOptionError, match=f"MODEL.MASK_FORMER.TEST.{message}"):
        InferenceSpec.from_config(cfg)
