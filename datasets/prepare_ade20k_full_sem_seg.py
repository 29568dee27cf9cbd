#!/usr/bin/env python
"""ADE20K-Full (847 classes): write ADE20K_2021_17_01/images_detectron2/{training,validation}/
and annotations_detectron2/{training,validation}/ (16-bit TIFF class index, 65535 = ignore)
from the ADE20K full release (index_ade20k.pkl and the images' *_seg.png), resizing images
whose shorter side exceeds 512, as the published MaskFormer preparation does."""

import sys

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.preparation import prepare_ade20k_full


def main(argv=None):
    root = preparation_root(__doc__, argv)
    count = prepare_ade20k_full(root)
    print(f"converted {count} ADE20K-Full images")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
