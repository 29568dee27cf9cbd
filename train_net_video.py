#!/usr/bin/env python
"""Train or evaluate Mask2Former for video instance segmentation (YouTube-VIS format data).

Same command line as train_net.py:

    python train_net_video.py --config-file youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml \
        [--num-gpus N] [--resume] [KEY VALUE ...]
    python train_net_video.py --config-file CONFIG --eval-only MODEL.WEIGHTS model.pth \
        [MODEL.MASK_FORMER.TEST.CLIP_LENGTH 30 MODEL.MASK_FORMER.TEST.CLIP_OVERLAP 5]

Evaluation writes the predictions in the YouTube-VIS results format to
OUTPUT_DIR/inference/results.json and reports video AP when the split has annotations.
"""
import functools
import sys

import train_net
from mask2former.video import add_video_model_config
from mask2former.video.trainer import VideoTrainer

main = functools.partial(train_net.main, trainer_class=VideoTrainer, add_config=add_video_model_config)


def cli(argv=None) -> int:
    """train_net.py's command line, checks and error convention with the video trainer and
    config keys."""
    return train_net.cli(argv, main=main, add_config=add_video_model_config, prog="train_net_video.py")


if __name__ == "__main__":
    sys.exit(cli())
