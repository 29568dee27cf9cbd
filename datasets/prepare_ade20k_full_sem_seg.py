#!/usr/bin/env python
"""ADE20K-Full (847 classes): write ADE20K_2021_17_01/images_detectron2/{training,validation}/
and annotations_detectron2/{training,validation}/ (16-bit TIFF class index, 65535 = ignore)
from the ADE20K full release (index_ade20k.pkl and the images' *_seg.png), resizing images
whose shorter side exceeds 512, as the published MaskFormer preparation does."""

import argparse
import sys


def main(argv=None):
    from mask2former.data.datasets.catalog import datasets_root
    from mask2former.data.preparation import prepare_ade20k_full

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    count = prepare_ade20k_full(args.root)
    print(f"converted {count} ADE20K-Full images")


if __name__ == "__main__":
    from mask2former.cli import run_cli

    sys.exit(run_cli(main))
