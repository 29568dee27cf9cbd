#!/usr/bin/env python
"""ADE20K (SceneParsing, 150 classes): write ADEChallengeData2016/annotations_detectron2/ from
annotations/ (labels shifted by -1, "other" 0 -> 255 ignore)."""

import argparse
import os
import sys


def main(argv=None):
    from mask2former.data.datasets.catalog import datasets_root
    from mask2former.data.preparation import prepare_ade20k_semantic

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    args = parser.parse_args(argv)
    count = prepare_ade20k_semantic(os.path.join(args.root, "ADEChallengeData2016"))
    print(f"converted {count} ADE20K label maps")


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:  # missing inputs: a message, not a stack trace
        sys.exit(f"error: {e}")
