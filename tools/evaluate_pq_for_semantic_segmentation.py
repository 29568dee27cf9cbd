#!/usr/bin/env python
"""PQ (panoptic quality, with SQ and RQ) and mIoU of a semantic segmentation model's saved
predictions against a registered dataset's ground truth.

    python tools/evaluate_pq_for_semantic_segmentation.py --dataset-name ade20k_sem_seg_val \
        --json-file OUTPUT_DIR/inference/sem_seg_predictions.json

The predictions file is the ``sem_seg_predictions.json`` that evaluation (``train_net.py
--eval-only``) writes into its output folder: per image and class, an RLE mask. Every class
present in an image is one segment; see mask2former/evaluation/semantic_pq.py for the matching.
Works for any registered semantic dataset (ADE20K, ADE20K-Full, COCO-Stuff), and for a split
of your own described dataset named as ``my_data.yaml:val`` (docs/custom_data.md).
"""

import argparse
import json
import os
import sys


def main(argv=None):
    from mask2former.data.datasets.description import (
        DESCRIPTION_ENTRY,
        register_description_entry,
    )
    from mask2former.evaluation.semantic_pq import evaluate_semantic_predictions

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset-name",
        default="ade20k_sem_seg_val",
        help="a registered semantic dataset, or DESCRIPTION.yaml:SPLIT",
    )
    parser.add_argument("--json-file", required=True, help="sem_seg_predictions.json")
    parser.add_argument(
        "--per-class", action="store_true", help="also print PQ, SQ, RQ of each class"
    )
    parser.add_argument("--output", help="also write the results to this JSON file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    if DESCRIPTION_ENTRY.match(args.dataset_name):
        register_description_entry(args.dataset_name, os.getcwd())

    results = evaluate_semantic_predictions(args.json_file, args.dataset_name)
    print(
        f"{args.dataset_name}: {results['num_images']} images, {results['num_classes']} classes with segments"
    )
    print(f"{'':10s}| {'PQ':>5s}  {'SQ':>5s}  {'RQ':>5s}  {'N':>5s}")
    print("-" * 38)
    print(
        f"{'All':10s}| {results['PQ']:5.1f}  {results['SQ']:5.1f}  {results['RQ']:5.1f}  {results['num_classes']:5d}"
    )
    print(f"mIoU: {results['mIoU']:.2f}")
    if args.per_class:
        for name, values in results["per_class"].items():
            print(
                f"{name[:30]:30s} PQ {values['PQ']:5.1f}  SQ {values['SQ']:5.1f}  RQ {values['RQ']:5.1f}"
            )
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    from mask2former.cli import run_cli

    sys.exit(run_cli(main))
