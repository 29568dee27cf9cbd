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

import sys

from mask2former.commands.train_net_video import cli, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(cli())
