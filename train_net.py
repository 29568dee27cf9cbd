#!/usr/bin/env python
"""Train or evaluate MaskFormer / Mask2Former.

Same command line as Detectron2's tools/train_net.py and the published repositories:

    python train_net.py --config-file CONFIG [--num-gpus N] [--resume] [KEY VALUE ...]
    python train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model.pth

CONFIG is a file or the name of a shipped config (``ade20k/swin_L.yaml``, a path under
configs/). ``--num-gpus N`` starts N processes (DDP over NCCL on GPUs, Gloo on CPU with
``MODEL.DEVICE cpu``); ``--num-machines``, ``--machine-rank`` and ``--dist-url`` spread a job
over machines. ``--resume`` continues from ``OUTPUT_DIR/last_checkpoint``. With
``TEST.AUG.ENABLED True`` semantic segmentation is also evaluated with multi-scale + flip
test-time augmentation. ``--eval-only`` refuses weights that leave the backbone or the head
untrained (no MODEL.WEIGHTS, or a file that does not fit the config) unless
``--random-weights`` (tests, benchmarks), which evaluates the untrained model. Mistakes in the command line, the config, the weights, the datasets or
the output folder are reported in one line before anything starts (``--debug``: with the
traceback).
"""

import sys

# the command lives in the package; its functions stay importable from here (``import train_net``)
from mask2former.commands.train_net import (  # noqa: F401
    check_before_launch,
    cli,
    get_parser,
    launch_main,
    main,
    parse_args,
    setup,
    weights_hint,
)

if __name__ == "__main__":
    sys.exit(cli())
