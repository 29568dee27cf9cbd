#!/usr/bin/env python
"""ADE20K instance: write COCO-format ADEChallengeData2016/ade20k_instance_{train,val}.json
(RLE masks of the 100 thing classes) from annotations_instance/."""

import os
import sys

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.datasets.catalog import load_categories
from mask2former.data.preparation import prepare_ade20k_instance


def main(argv=None):
    root = preparation_root(__doc__, argv)
    count = prepare_ade20k_instance(
        os.path.join(root, "ADEChallengeData2016"), load_categories("ade20k_instance_100")
    )
    print(f"wrote instance annotations of {count} ADE20K images")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
