"""add_maskformer2_video_config: the published video keys with their published defaults, this
project's two clip-inference keys (whose defaults keep the published one-pass inference), and
nothing else; the settings reach the model."""

import pytest
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from helpers.configs import flatten
from helpers.video import make_tiny_video_cfg
from mask2former import add_maskformer2_config
from mask2former.video import add_maskformer2_video_config

PUBLISHED_VIDEO_DEFAULTS = {
    "INPUT.SAMPLING_FRAME_NUM": 2,
    "INPUT.SAMPLING_FRAME_RANGE": 20,
    "INPUT.SAMPLING_FRAME_SHUFFLE": False,
    "INPUT.AUGMENTATIONS": [],
}
PROJECT_VIDEO_DEFAULTS = {
    "MODEL.MASK_FORMER.TEST.CLIP_LENGTH": 0,
    "MODEL.MASK_FORMER.TEST.CLIP_OVERLAP": 0,
}


def test_video_keys_and_defaults():
    image = get_cfg()
    add_maskformer2_config(image)
    video = image.clone()
    add_maskformer2_video_config(video)
    added = {k: v for k, v in flatten(video).items() if k not in flatten(image)}
    assert added == {**PUBLISHED_VIDEO_DEFAULTS, **PROJECT_VIDEO_DEFAULTS}


PUBLISHED_VIDEO_YAML = """
MODEL:
  META_ARCHITECTURE: "VideoMaskFormer"
  MASK_ON: True
  MASK_FORMER:
    TRANSFORMER_DECODER_NAME: "VideoMultiScaleMaskedTransformerDecoder"
INPUT:
  SAMPLING_FRAME_NUM: 5
  SAMPLING_FRAME_RANGE: 10
  SAMPLING_FRAME_SHUFFLE: True
  MIN_SIZE_TRAIN_SAMPLING: "choice_by_clip"
  RANDOM_FLIP: "flip_by_clip"
  AUGMENTATIONS: ["brightness", "rotation"]
  MIN_SIZE_TRAIN: (360, 480)
  CROP:
    ENABLED: True
    TYPE: "absolute_range"
    SIZE: (600, 720)
"""


def test_published_video_yaml_keys_merge(tmp_path):
    path = tmp_path / "video.yaml"
    path.write_text(PUBLISHED_VIDEO_YAML)
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    add_maskformer2_video_config(cfg)
    cfg.merge_from_file(str(path))
    assert cfg.INPUT.SAMPLING_FRAME_NUM == 5 and cfg.INPUT.AUGMENTATIONS == [
        "brightness",
        "rotation",
    ]


@pytest.mark.parametrize("length,overlap", [(0, 0), (6, 2)])
def test_settings_reach_the_model(length, overlap):
    cfg = make_tiny_video_cfg(num_frames=3)
    cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH = length
    cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP = overlap
    model = build_model(cfg)
    assert model.num_frames == model.sem_seg_head.predictor.num_frames == 3
    assert (model.clip_length, model.clip_overlap) == (length, overlap)
    assert model.test_topk == 10


def test_clip_overlap_must_be_shorter_than_clips():
    cfg = make_tiny_video_cfg()
    cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH = 4
    cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP = 4
    with pytest.raises(ValueError, match="CLIP_OVERLAP must lie in"):
        build_model(cfg)
