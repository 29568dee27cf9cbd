"""tools/quickstart_video.py's chance-level baselines on generated videos."""

import json
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest

from helpers.scripts import load_script
from mask2former.data.shapes_video import generate_videos


@pytest.fixture(scope="module")
def quickstart_video():
    return load_script("tools/quickstart_video.py")


def test_chance_levels_are_zero_on_generated_videos(quickstart_video, tmp_path):
    """Whole-frame masks overlap no object by IoU 0.5, and objects of other videos fall on
    the right object of the right class too rarely: both baselines score 0 video AP."""
    out = generate_videos(str(tmp_path), num_train=1, num_val=6)
    with open(os.path.join(out, "valid.json")) as f:
        levels = quickstart_video.chance_levels(json.load(f))
    assert set(levels) == {"whole frames", "tracks of other videos"}
    for stats in levels.values():
        assert stats["AP"] == 0.0 and stats["AR10"] < 5


def test_tracks_move_to_another_video(quickstart_video):
    masks = np.zeros((4, 4, 2), np.uint8, order="F")
    masks[:2, :2, 0] = 1
    masks[2:, 2:, 1] = 1
    track = quickstart_video._resized_track(
        mask_util.encode(masks), 8, 6, 3, np.random.default_rng(0)
    )
    assert len(track) == 3 and all(m.shape == (8, 6) for m in track)
    assert track[0][:4, :3].all() and not track[0][4:].any()
    assert track[1][4:, 3:].all() and np.array_equal(
        track[1], track[2]
    )  # a short track repeats its last frame
