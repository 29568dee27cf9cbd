#!/usr/bin/env python
"""ADE20K panoptic: write ADEChallengeData2016/ade20k_panoptic_{train,val}/ (COCO-panoptic PNGs)
and ade20k_panoptic_{train,val}.json from annotations/ (semantic) and annotations_instance/
(instance PNGs of the ADE20K instance challenge). Run prepare_ade20k_sem_seg.py too: the
panoptic datasets also read annotations_detectron2/."""

import os
import sys

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.datasets.catalog import load_categories
from mask2former.data.preparation import prepare_ade20k_panoptic


def main(argv=None):
    root = preparation_root(__doc__, argv)
    count = prepare_ade20k_panoptic(
        os.path.join(root, "ADEChallengeData2016"),
        load_categories("ade20k_150"),
        load_categories("ade20k_instance_100"),
    )
    print(f"wrote panoptic annotations of {count} ADE20K images")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
