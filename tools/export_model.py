#!/usr/bin/env python
"""Export a MaskFormer / Mask2Former network (backbone, pixel decoder, transformer decoder) to
ONNX or a torch.export program, mapping normalized padded images to class and mask logits.

    python tools/export_model.py --config-file CFG --weights model_final.pth \
        --format onnx --output model.onnx --dynamic
    python tools/export_model.py --config-file CFG --weights model_final.pth \
        --format exported-program --output model.pt2 --size 512 512

The file carries the pre-/post-processing settings; ``mask2former.export.ExportedPredictor``
runs it and returns what demo/demo.py's predictor returns (see docs/export.md). CFG is a
config file or a shipped config's name; config overrides (KEY VALUE ...) go at the end.
"""

import argparse
import dataclasses
import logging
import os
import sys
import time
from typing import List, Optional

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
import numpy as np
import torch
from detectron2.modeling import build_model

from mask2former.checkpoint import MaskFormerCheckpointer
from mask2former.checkpoint.fetch import fetch_weights
from mask2former.cli import (
    add_config_arguments,
    check_output_dir,
    config_overrides,
    load_config,
    run_cli,
)
from mask2former.engine.predictor import load_trained_weights
from mask2former.errors import UsageError
from mask2former.export import (
    ExportableMaskFormer,
    ExportedPredictor,
    InferenceSpec,
    export_program,
    input_step,
    save_onnx,
    save_program,
)

logger = logging.getLogger("export_model")

FORMATS = {"onnx": ".onnx", "exported-program": ".pt2"}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument(
        "--weights", metavar="FILE", help="trained weights (.pth, .pkl, .safetensors)"
    )
    weights.add_argument(
        "--random-weights", action="store_true", help="export the untrained model (for benchmarks)"
    )
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("--output", required=True, metavar="FILE", help="ends in .onnx or .pt2")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--size", nargs=2, type=int, metavar=("H", "W"), help="fixed input size (padded images)"
    )
    size.add_argument(
        "--dynamic",
        action="store_true",
        help="any batch size and any input size that is a multiple of the size divisibility",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run the exported file on random inputs and print its largest difference to PyTorch",
    )
    return add_config_arguments(parser)


def setup(args):
    expected = FORMATS[args.format]
    if not args.output.endswith(expected):
        raise UsageError(
            f"--output for --format {args.format} must end in {expected}: {args.output}"
        )
    check_output_dir(os.path.dirname(os.path.abspath(args.output)), "another `--output`")
    cfg = load_config(args.config_file, config_overrides(args))
    cfg.MODEL.DEVICE = "cpu"
    if args.weights:
        fetch_weights(args.weights, hint="`--weights FILE`")
        cfg.MODEL.WEIGHTS = args.weights
    cfg.freeze()
    return cfg


def build_spec(model, size: Optional[List[int]]) -> InferenceSpec:
    spec = dataclasses.replace(model.inference_spec, fixed_input_size=size)
    step = input_step(spec)
    if size is not None:
        if size[0] % step or size[1] % step:
            raise UsageError(f"--size {size[0]} {size[1]}: both must be multiples of {step}")
    elif spec.size_divisibility != step:
        logger.warning(
            f"the model pads images to multiples of {spec.size_divisibility}; the dynamic export "
            f"takes multiples of {step}, so images are padded to that instead"
        )
        spec = dataclasses.replace(spec, size_divisibility=step)
    return spec


def verify(model, path: str, sizes) -> None:
    """Prints the largest absolute difference between the exported network's outputs and the
    PyTorch model's on random inputs of each size."""
    network = ExportedPredictor(path).network
    reference = ExportableMaskFormer(model).eval()
    for h, w in sizes:
        images = torch.randn(1, 3, h, w)
        with torch.no_grad():
            expected = reference(images)
        outputs = network(images.numpy())
        diffs = [
            float(np.abs(np.asarray(out) - ref.numpy()).max())
            for out, ref in zip(outputs, expected)
        ]
        print(f"{h}x{w}: max |difference| pred_logits {diffs[0]:.3g}, pred_masks {diffs[1]:.3g}")


def main(argv: Optional[List[str]] = None) -> int:
    # this tool's messages at INFO; the exporters' own INFO chatter (one line per folded
    # initializer) only from WARNING up
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    args = get_parser().parse_args(argv)
    cfg = setup(args)
    model = build_model(cfg).eval()
    if args.weights:
        load_trained_weights(MaskFormerCheckpointer(model), args.weights, hint="`--weights FILE`")
    spec = build_spec(model, args.size)
    step = input_step(spec)
    example = tuple(args.size) if args.size else (2 * step, 2 * step)

    start = time.perf_counter()
    program = export_program(model, spec, example, dynamic=args.dynamic)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    if args.format == "onnx":
        save_onnx(program, spec, args.output)
    else:
        save_program(program, spec, args.output)
    logger.info(f"wrote {args.output} in {time.perf_counter() - start:.0f} s")

    if args.verify:
        sizes = [example] + ([(3 * step, 4 * step)] if args.dynamic else [])
        verify(model, args.output, sizes)
    return 0


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    return run_cli(main, argv, prog="export_model.py")


if __name__ == "__main__":
    sys.exit(cli())
