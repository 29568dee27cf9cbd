#!/usr/bin/env python
"""Generate the synthetic "shapes" dataset under $DETECTRON2_DATASETS/shapes (or --root/shapes),
or with --videos the shapes videos under .../shapes_video.

    python datasets/generate_shapes.py [--videos] [--root R] [--num-train N] [--num-val N] [--seed S]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mask2former.data.shapes import main  # noqa: E402

if __name__ == "__main__":
    main()
