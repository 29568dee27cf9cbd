#!/usr/bin/env python
"""Images per second of ``MaskFormerPredictor`` on a list of images: one at a time
(``predictor(image)``) against batched (``predictor.batch(images, batch_size)``).

    python tools/benchmark_predictor.py --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        --size 256 256 --images 8 --batch 4 --threads 2 [KEY VALUE ...]

Weights are random (timings do not depend on them); the images are random uint8 BGR images of
--size, resized by the config's test-time resize as the predictor does. Both modes run the
same images, alternately, --repeats times after one untimed warm-up each; the table gives the
median time over the list and the largest difference between the two modes' semantic scores.
"""

import argparse
import statistics
import sys
import time

import numpy as np
import torch

# mask2former before detectron2: it keeps fvcore's import-time warnings quiet
from mask2former.cli import add_config_arguments, config_overrides, load_config, run_cli
from mask2former.engine.predictor import MaskFormerPredictor


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"))
    parser.add_argument("--images", type=int, default=8, help="images in the list")
    parser.add_argument("--batch", type=int, default=4, help="images per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each mode")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = add_config_arguments(parser).parse_args(argv)
    args.opts = config_overrides(args)
    return args


def run(args) -> dict:
    """Times both modes: {"rows": [(mode, median s, images/s)], "max_sem_seg_diff",
    "threads"}."""
    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    torch.set_num_threads(args.threads or torch.get_num_threads())
    predictor = MaskFormerPredictor(cfg, random_weights=True)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*args.size, 3), dtype=np.uint8) for _ in range(args.images)]
    modes = {
        "one at a time": lambda: [predictor(image) for image in images],
        f"batches of {args.batch}": lambda: predictor.batch(images, args.batch),
    }
    times = {name: [] for name in modes}
    outputs = {name: mode() for name, mode in modes.items()}  # warm-up
    for _ in range(args.repeats):
        for name, mode in modes.items():
            start = time.perf_counter()
            mode()
            times[name].append(time.perf_counter() - start)
    first, second = outputs.values()
    difference = (
        max(
            (a["sem_seg"] - b["sem_seg"]).abs().max().item()
            for a, b in zip(first, second)
            if "sem_seg" in a
        )
        if "sem_seg" in first[0]
        else float("nan")
    )
    return {
        "rows": [
            (name, statistics.median(t), args.images / statistics.median(t))
            for name, t in times.items()
        ],
        "max_sem_seg_diff": difference,
        "threads": torch.get_num_threads(),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run(args)
    h, w = args.size
    print(
        f"{args.config_file}  {args.images} images of {h}x{w}  cpu, {report['threads']} threads, "
        f"torch {torch.__version__}, random weights"
    )
    print("| mode | s per list | images/s | x one at a time |")
    print("|---|---|---|---|")
    single = report["rows"][0][1]
    for name, seconds, rate in report["rows"]:
        print(f"| {name} | {seconds:.3f} | {rate:.2f} | {single / seconds:.2f} |")
    print(f"largest sem_seg difference between the modes: {report['max_sem_seg_diff']:.3g}")
    return 0


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    return run_cli(main, argv, prog="benchmark_predictor.py")


if __name__ == "__main__":
    sys.exit(cli())
