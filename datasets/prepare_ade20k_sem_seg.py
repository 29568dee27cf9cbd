#!/usr/bin/env python
"""ADE20K (SceneParsing, 150 classes): write ADEChallengeData2016/annotations_detectron2/ from
annotations/ (labels shifted by -1, "other" 0 -> 255 ignore)."""

import os
import sys

from mask2former.commands.dataset_preparation import preparation_root, run_preparation_script
from mask2former.data.preparation import prepare_ade20k_semantic


def main(argv=None):
    root = preparation_root(__doc__, argv)
    count = prepare_ade20k_semantic(os.path.join(root, "ADEChallengeData2016"))
    print(f"converted {count} ADE20K label maps")


if __name__ == "__main__":
    sys.exit(run_preparation_script(main))
