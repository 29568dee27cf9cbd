"""Semantic-segmentation test-time augmentation: scales, flips and averaging."""

import torch
import torch.nn.functional as F
from torch import nn

from helpers.configs import make_tiny_cfg
from mask2former.modeling.test_time_augmentation import SemanticSegmentorWithTTA


class _ImageAsScores(nn.Module):
    """A "model" whose 2 class scores are the image's red and green channels, resized back to
    the requested output size (like the real model's postprocessing); with ``size_channel``
    the first score is the input's height instead."""

    def __init__(self, size_channel=False):
        super().__init__()
        self.size_channel = size_channel
        self.input_sizes = []

    def forward(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            self.input_sizes.append(tuple(x["image"].shape[1:]))
            image = x["image"][None, :2].float()
            scores = F.interpolate(image, size=(x["height"], x["width"]), mode="nearest")[0]
            if self.size_channel:
                scores[0] = x["image"].shape[1]
            outputs.append({"sem_seg": scores})
        return outputs


def _tta(min_sizes, flip, size_channel=False):
    cfg = make_tiny_cfg()
    cfg.TEST.AUG.MIN_SIZES = min_sizes
    cfg.TEST.AUG.MAX_SIZE = 1000
    cfg.TEST.AUG.FLIP = flip
    model = _ImageAsScores(size_channel)
    return SemanticSegmentorWithTTA(cfg, model), model


def _asymmetric_image(height=16, width=24):
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    image[0, :, : width // 3] = 200  # left third red
    image[1, : height // 2, :] = 100  # top half green
    return image


def test_flipped_copy_is_flipped_back():
    tta, model = _tta(min_sizes=(16,), flip=True)
    image = _asymmetric_image()
    (out,) = tta([{"image": image, "height": 16, "width": 24}])
    # the plain and the flipped copy agree once flipped back: the average is the image itself
    torch.testing.assert_close(out["sem_seg"], image[:2].float())
    assert model.input_sizes == [(16, 24), (16, 24)]


def test_scores_are_averaged_over_scales_and_flips():
    tta, model = _tta(min_sizes=(8, 16, 32), flip=True, size_channel=True)
    image = _asymmetric_image()
    (out,) = tta([{"image": image, "height": 16, "width": 24}])
    assert sorted(model.input_sizes) == sorted([(8, 12)] * 2 + [(16, 24)] * 2 + [(32, 48)] * 2)
    assert out["sem_seg"].shape == (2, 16, 24)
    # mean of the input heights over the 6 copies
    torch.testing.assert_close(out["sem_seg"][0], torch.full((16, 24), (8 + 16 + 32) / 3))
    # green (top half) after flip-back, away from the edge that resizing blurs
    green = out["sem_seg"][1]
    assert (green[:6] == 100).all() and (green[10:] == 0).all()


def test_without_flip_one_copy_per_scale():
    tta, model = _tta(min_sizes=(8, 16), flip=False)
    tta([{"image": _asymmetric_image(), "height": 16, "width": 24}])
    assert sorted(model.input_sizes) == [(8, 12), (16, 24)]
