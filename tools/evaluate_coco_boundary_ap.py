#!/usr/bin/env python
"""Boundary AP (Boundary IoU paper) of COCO-format instance segmentation results.

    python tools/evaluate_coco_boundary_ap.py --gt-json-file instances_val2017.json \
        --dt-json-file OUTPUT_DIR/inference/coco_instances_results.json

The results file is the ``coco_instances_results.json`` that instance evaluation writes. A
detection and a ground-truth mask are matched by min(mask IoU, boundary IoU); the boundary of
a mask is its pixels within ``dilation ratio x image diagonal`` of its contour. ``--iou-type
segm`` gives ordinary mask AP for comparison. Needs no extra package (the published tool needs
the boundary_iou API); see mask2former/evaluation/boundary_iou.py.
"""

import argparse
import contextlib
import io
import sys

from mask2former.evaluation.coco_eval import COCO_STAT_NAMES as STAT_NAMES


def main(argv=None):
    from detectron2.utils.logger import create_small_table

    from mask2former.evaluation.coco_eval import (
        evaluate_coco_files,
        fast_cocoeval_available,
    )

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gt-json-file", required=True, help="COCO ground truth (instances json)")
    parser.add_argument("--dt-json-file", required=True, help="COCO results (list of detections)")
    parser.add_argument("--iou-type", default="boundary", choices=["boundary", "segm", "bbox"])
    parser.add_argument(
        "--dilation-ratio", default=0.02, type=float, help="boundary width / image diagonal"
    )
    parser.add_argument(
        "--no-fast",
        action="store_true",
        help="use pycocotools even if faster-coco-eval is installed",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    if args.dilation_ratio <= 0:
        parser.error(f"--dilation-ratio must be positive, got {args.dilation_ratio}")

    fast = not args.no_fast and fast_cocoeval_available()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress lines
        coco_eval = evaluate_coco_files(
            args.gt_json_file, args.dt_json_file, args.iou_type, args.dilation_ratio, fast
        )
    title = {
        "boundary": f"Boundary AP (dilation ratio {args.dilation_ratio})",
        "segm": "Mask AP",
        "bbox": "Box AP",
    }
    print(f"{title[args.iou_type]}, {'faster-coco-eval' if fast else 'pycocotools'}:")
    stats = {name: 100 * float(value) for name, value in zip(STAT_NAMES, coco_eval.stats)}
    print(create_small_table({k: stats[k] for k in STAT_NAMES[:6]}))
    print(create_small_table({k: stats[k] for k in STAT_NAMES[6:]}))


if __name__ == "__main__":
    from mask2former.cli import run_cli

    sys.exit(run_cli(main))
