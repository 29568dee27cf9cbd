#!/usr/bin/env python
"""CPU latency of the network (backbone, pixel decoder, transformer decoder) in PyTorch eager
mode, as a torch.export program and as ONNX in onnxruntime, on one padded image.

    python tools/benchmark_export.py --config-file ade20k/R50.yaml --size 512 512 [KEY VALUE ...]

Random weights (latency does not depend on them). Prints a table of median and min over
--runs timed runs after one warm-up run each, and the largest output differences.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
import numpy as np
import onnxruntime as ort
import torch
from detectron2.modeling import build_model
from tabulate import tabulate

from mask2former.cli import add_config_arguments, config_overrides, load_config, run_cli
from mask2former.export import (
    INPUT_NAME,
    ExportableMaskFormer,
    export_program,
    save_onnx,
)
from mask2former.utils.timing import time_calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", nargs=2, type=int, default=[512, 512], metavar=("H", "W"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = add_config_arguments(parser).parse_args(argv)

    cfg = load_config(args.config_file, config_overrides(args))
    cfg.MODEL.DEVICE = "cpu"
    torch.set_num_threads(args.threads)
    model = build_model(cfg).eval()
    spec = dataclasses.replace(model.inference_spec, fixed_input_size=args.size)
    images = torch.randn(1, 3, *args.size)

    start = time.perf_counter()
    program = export_program(model, spec, tuple(args.size), dynamic=False)
    export_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        start = time.perf_counter()
        save_onnx(program, spec, path)
        onnx_s = time.perf_counter() - start
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    eager = ExportableMaskFormer(model).eval()
    exported = program.module()
    with torch.no_grad():
        eager_t = time_calls(lambda: eager(images), repeats=args.runs)
        program_t = time_calls(lambda: exported(images), repeats=args.runs)
    feeds = {INPUT_NAME: images.numpy()}
    onnx_t = time_calls(lambda: session.run(None, feeds), repeats=args.runs)

    def diff(outputs):
        return max(
            float(np.abs(np.asarray(o) - e.numpy()).max()) for o, e in zip(outputs, eager_t.output)
        )

    rows = [
        [name, t.median * 1e3, t.min * 1e3, diff(t.output)]
        for name, t in (
            ("PyTorch eager", eager_t),
            ("torch.export program", program_t),
            ("onnxruntime (CPU)", onnx_t),
        )
    ]
    print(
        f"{args.config_file}, input 1x3x{args.size[0]}x{args.size[1]}, {args.threads} threads, "
        f"{args.runs} runs; export {export_s:.0f} s, ONNX conversion {onnx_s:.0f} s"
    )
    print(tabulate(rows, headers=["runtime", "median ms", "min ms", "max |diff|"], floatfmt=".4g"))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="benchmark_export.py"))
