#!/usr/bin/env python
"""Generate the synthetic "shapes" dataset under $DETECTRON2_DATASETS/shapes (or --root/shapes),
or with --videos the shapes videos under .../shapes_video.

    python datasets/generate_shapes.py [--videos] [--root R] [--num-train N] [--num-val N] [--seed S]
"""

from mask2former.data.shapes import main

if __name__ == "__main__":
    main()
