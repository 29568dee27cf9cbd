#!/usr/bin/env python
"""COCO panoptic -> semantic: write coco/panoptic_semseg_{train,val}2017/ PNGs (contiguous index
of the 133 panoptic categories, 255 = unlabeled) from the panoptic annotations."""

import argparse
import os
import sys


def main(argv=None):
    from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

    from mask2former.data.datasets.catalog import datasets_root
    from mask2former.data.preparation import semantic_from_panoptic

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    args = parser.parse_args(argv)
    coco = os.path.join(args.root, "coco")
    for split in ("train", "val"):
        count = semantic_from_panoptic(
            os.path.join(coco, "annotations", f"panoptic_{split}2017.json"),
            os.path.join(coco, f"panoptic_{split}2017"),
            os.path.join(coco, f"panoptic_semseg_{split}2017"),
            COCO_CATEGORIES,
        )
        print(f"{split}: wrote {count} semantic label maps")


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:  # missing inputs: a message, not a stack trace
        sys.exit(f"error: {e}")
