#!/usr/bin/env python
"""ADE20K instance: write COCO-format ADEChallengeData2016/ade20k_instance_{train,val}.json
(RLE masks of the 100 thing classes) from annotations_instance/."""

import argparse
import os
import sys


def main(argv=None):
    from mask2former.data.datasets.catalog import datasets_root, load_categories
    from mask2former.data.preparation import prepare_ade20k_instance

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    args = parser.parse_args(argv)
    count = prepare_ade20k_instance(
        os.path.join(args.root, "ADEChallengeData2016"), load_categories("ade20k_instance_100")
    )
    print(f"wrote instance annotations of {count} ADE20K images")


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:  # missing inputs: a message, not a stack trace
        sys.exit(f"error: {e}")
