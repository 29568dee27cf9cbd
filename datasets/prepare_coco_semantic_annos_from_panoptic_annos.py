#!/usr/bin/env python
"""COCO panoptic -> semantic: write coco/panoptic_semseg_{train,val}2017/ PNGs (contiguous index
of the 133 panoptic categories, 255 = unlabeled) from the panoptic annotations."""

import os
import sys

from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.preparation import semantic_from_panoptic


def main(argv=None):
    root = preparation_root(__doc__, argv)
    coco = os.path.join(root, "coco")
    for split in ("train", "val"):
        count = semantic_from_panoptic(
            os.path.join(coco, "annotations", f"panoptic_{split}2017.json"),
            os.path.join(coco, f"panoptic_{split}2017"),
            os.path.join(coco, f"panoptic_semseg_{split}2017"),
            COCO_CATEGORIES,
        )
        print(f"{split}: wrote {count} semantic label maps")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
