#!/usr/bin/env python
"""COCO-Stuff-10k v1.0: write coco/coco_stuff_10k/images_detectron2/{train,test}/ (copies) and
annotations_detectron2/{train,test}/ PNGs (171-class contiguous index, 255 = unlabeled) from
imageLists/, images/ and the .mat label maps in annotations/."""

import os
import sys

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.preparation import prepare_coco_stuff_10k


def main(argv=None):
    root = preparation_root(__doc__, argv)
    count = prepare_coco_stuff_10k(os.path.join(root, "coco", "coco_stuff_10k"))
    print(f"converted {count} COCO-Stuff-10k images")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
