#!/usr/bin/env python
"""Check a described dataset before training on it (docs/custom_data.md).

    python tools/check_dataset.py my_data.yaml [--pictures N] [--output DIR] [--workers N]

Reads the description and every image and label file it names, as training reads them, and
reports each problem with the file and what is wrong: unreadable or truncated images, labels of
another size than their image, label values that are no class (which, how many pixels),
colours not in the palette, COCO annotations of unknown categories, empty or out-of-image boxes
and masks, images missing on disk, empty splits, files of the same name. Then, per split, a
table of the images and pixels (semantic), instances (instance) or segments (panoptic) of each
class, and the classes never seen; and pictures of N samples per split with their ground truth
drawn, in --output. All findings are also written to --output/report.txt. Exit status 1 when
there are errors, 0 when there are only warnings (2: the description itself is not valid).
"""

import argparse
import os
import sys

from mask2former.cli import run_cli
from mask2former.data.check import check_dataset


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "description", metavar="DESCRIPTION.yaml", help="the dataset description file"
    )
    parser.add_argument(
        "--pictures", type=int, default=4, help="samples per split to draw (default: 4)"
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="where the pictures and report.txt go (default: output/check_dataset/<name>)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(8, len(os.sched_getaffinity(0))),
        help="processes reading the files (default: the CPU cores, at most 8)",
    )
    parser.add_argument(
        "--max-lines",
        type=int,
        default=10,
        help="problems of one kind printed per split (all in report.txt)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of one-line errors"
    )
    return parser


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    from mask2former.data.datasets.description import read_description

    name = read_description(args.description).name
    output = args.output or os.path.join("output", "check_dataset", name)
    check = check_dataset(
        args.description, workers=args.workers, pictures=args.pictures, output=output
    )
    description = check.description
    print(
        f"{description.path}: {description.task} dataset {name!r}, {len(check.class_names)} classes"
    )
    report_lines = []
    for split in check.splits:
        kind = f"{split.unit} per class" if split.unit else "images only"
        print(
            f"\n== {split.name}: {split.images} images ({kind}), {split.errors} errors, {split.warnings} warnings"
        )
        for line in split.lines(args.max_lines):
            print(line)
        if split.unit and split.images:
            print(split.table(check.class_names))
        report_lines += split.lines()
    os.makedirs(output, exist_ok=True)
    report = os.path.join(output, "report.txt")
    with open(report, "w", encoding="utf-8") as f:
        f.write("\n".join(report_lines) + ("\n" if report_lines else ""))
    per_thousand = check.seconds / max(check.images, 1) * 1000
    print(
        f"\nChecked {check.images} images in {check.seconds:.1f} s ({per_thousand:.1f} s per 1,000, "
        f"{args.workers} process{'es' if args.workers > 1 else ''}): {check.errors} errors, "
        f"{check.warnings} warnings (all in {report})"
    )
    if check.pictures:
        print(f"Ground truth of {len(check.pictures)} samples: {output}/<split>/")
    return 1 if check.errors else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="check_dataset.py"))
