#!/usr/bin/env python
"""Write a model's raw results for images: label PNGs, COCO panoptic PNG + JSON, COCO instance JSON.

    python tools/predict.py --config-file CFG --input a.jpg photos/ "more/*.png" --output out/ \\
        [--batch-size N] [--dataset DESC.yaml] [KEY VALUE ...]

CFG is a config file or the name of a shipped config; a published config without
``MODEL.WEIGHTS`` on the command line runs the model zoo's trained weights for it. Under
``--output`` go the results the config computes (MODEL.MASK_FORMER.TEST): ``sem_seg/<stem>.png``,
``panoptic/<stem>.png`` with ``panoptic.json``, ``instances.json`` (formats:
docs/inference.md, "Raw results for a folder of images"). Unreadable inputs are reported one
line each and skipped; the exit status is non-zero when any input failed.
"""

import argparse
import functools
import logging
import sys
import time
from typing import List, Optional

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
from mask2former.cli import (
    add_config_arguments,
    check_output_dir,
    config_overrides,
    run_cli,
    split_trailing_overrides,
)
from mask2former.commands.inference import expand_inputs, inference_config
from mask2former.data.image_io import read_image_checked
from mask2former.engine.prediction_writer import PredictionWriter
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.errors import UsageError

logger = logging.getLogger("predict")

WEIGHTS_HINT = "`MODEL.WEIGHTS path/to/model_final.pth`"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="image files, folders (their images) or quoted glob patterns ('dir/*.png')",
    )
    parser.add_argument("--output", required=True, help="the folder to write the results to")
    parser.add_argument(
        "--batch-size", type=int, default=1, help="images run as one batch (default: 1)"
    )
    return add_config_arguments(parser)


def _read_images(paths: List[str]):
    """(path, BGR image) of the readable ``paths``, and how many could not be read."""
    images, failures = [], 0
    for path in paths:
        try:
            images.append((path, read_image_checked(path, format="BGR")))
        except OSError as e:  # read_image_checked: FileNotFoundError or ImageReadError
            logger.error(f"skipped {path}: {e}")
            failures += 1
    return images, failures


def run_images(predictor: MaskFormerPredictor, writer: PredictionWriter, paths: List[str],
               batch_size: int) -> int:  # fmt: skip
    """Writes the results of every image of ``paths``, ``batch_size`` images a batch (read
    one batch at a time); returns how many of them failed."""
    failures = 0
    for start in range(0, len(paths), batch_size):
        images, unreadable = _read_images(paths[start : start + batch_size])
        failures += unreadable
        if not images:
            continue
        begin = time.perf_counter()
        outputs = predictor.batch([image for _, image in images])
        seconds = (time.perf_counter() - begin) / len(images)
        for (path, _), output in zip(images, outputs):
            written = writer.write(path, output)
            logger.info(f"{path}: {', '.join(written) or 'no results'} in {seconds:.2f}s")
    return failures


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the model on the inputs; returns the exit status (0: every input was written, 1:
    some input failed). Unusable arguments, config, weights or output raise a ``UserError``
    (exit status 2 through :func:`cli`)."""
    args = get_parser().parse_args(argv)
    inputs, trailing = split_trailing_overrides(args.input)
    opts = config_overrides(args, trailing)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    paths, unmatched = expand_inputs(inputs)
    for pattern in unmatched:
        logger.error(f"--input {pattern}: no such file (or no image in that folder)")
    if not paths:
        return 1
    check_output_dir(args.output, "another `--output`")
    cfg = inference_config(args.config_file, opts, WEIGHTS_HINT)
    predictor = MaskFormerPredictor(cfg, weights_hint=WEIGHTS_HINT)
    with PredictionWriter(
        args.output, predictor.metadata, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    ) as writer:
        failures = len(unmatched) + run_images(predictor, writer, paths, args.batch_size)
    if failures:
        logger.error(f"{failures} of {len(paths) + len(unmatched)} inputs failed")
    return 1 if failures else 0


# main with the shared error convention: a UserError is one line on stderr and exit status 2
cli = functools.partial(run_cli, main, prog="predict.py")

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s",
                        datefmt="%H:%M:%S")  # fmt: skip
    sys.exit(cli())
