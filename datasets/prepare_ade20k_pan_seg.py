#!/usr/bin/env python
"""ADE20K panoptic: write ADEChallengeData2016/ade20k_panoptic_{train,val}/ (COCO-panoptic PNGs)
and ade20k_panoptic_{train,val}.json from annotations/ (semantic) and annotations_instance/
(instance PNGs of the ADE20K instance challenge). Run prepare_ade20k_sem_seg.py too: the
panoptic datasets also read annotations_detectron2/."""

import argparse
import os
import sys


def main(argv=None):
    from mask2former.data.datasets.catalog import datasets_root, load_categories
    from mask2former.data.preparation import prepare_ade20k_panoptic

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    args = parser.parse_args(argv)
    count = prepare_ade20k_panoptic(
        os.path.join(args.root, "ADEChallengeData2016"),
        load_categories("ade20k_150"),
        load_categories("ade20k_instance_100"),
    )
    print(f"wrote panoptic annotations of {count} ADE20K images")


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:  # missing inputs: a message, not a stack trace
        sys.exit(f"error: {e}")
