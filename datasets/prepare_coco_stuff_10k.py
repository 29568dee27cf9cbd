#!/usr/bin/env python
"""COCO-Stuff-10k v1.0: write coco/coco_stuff_10k/images_detectron2/{train,test}/ (copies) and
annotations_detectron2/{train,test}/ PNGs (171-class contiguous index, 255 = unlabeled) from
imageLists/, images/ and the .mat label maps in annotations/."""

import argparse
import os
import sys


def main(argv=None):
    from mask2former.data.datasets.catalog import datasets_root
    from mask2former.data.preparation import prepare_coco_stuff_10k

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    args = parser.parse_args(argv)
    count = prepare_coco_stuff_10k(os.path.join(args.root, "coco", "coco_stuff_10k"))
    print(f"converted {count} COCO-Stuff-10k images")


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:  # missing inputs: a message, not a stack trace
        sys.exit(f"error: {e}")
