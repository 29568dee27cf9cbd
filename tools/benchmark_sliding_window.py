#!/usr/bin/env python
"""Peak memory and time of semantic inference against image size: the whole image at once
against sliding windows (MODEL.MASK_FORMER.TEST.SLIDING_WINDOW).

    python tools/benchmark_sliding_window.py --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        --sizes 512 1024 2048 --window 512 --stride 341 --threads 2 [--device cuda] [KEY VALUE ...]

Each (mode, size) runs in a fresh process on random weights and a random square image of that
size given to the model as it is (no test-time resize), with the output at the same size.
Reported: the peak memory of the inference above what the process held just before it (the
model and the image); on the CPU the peak resident set size (VmHWM, reset before the
inference, see tools/benchmark.py's ``Memory``), on CUDA torch's peak allocation. Prints a
Markdown table.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS.parent))
sys.path.insert(0, str(TOOLS))

MODES = ("whole image", "sliding")


def parse_args(argv=None):
    from mask2former.cli import add_config_arguments, config_overrides

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--window", type=int, default=512, help="square window side (pixels)")
    parser.add_argument("--stride", type=int, default=341, help="step between windows (pixels)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    # internal: one measurement in this process, printed as JSON
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SIZE"), help=argparse.SUPPRESS)
    args = add_config_arguments(parser).parse_args(argv)
    args.opts = config_overrides(args)
    return args


def measure(args) -> dict:
    """One inference in this process: {"peak_mib", "seconds"}."""
    import torch
    from benchmark import Memory
    from detectron2.modeling import build_model

    from mask2former.cli import load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    mode, size = args.child[0], int(args.child[1])
    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    window = cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW
    window.ENABLED = mode == "sliding"
    window.SIZE, window.STRIDE = [args.window] * 2, [args.stride] * 2
    model = build_model(cfg).eval()
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8).float().to(args.device)
    result = {}
    held_mib = baseline_mib(args.device)
    with torch.inference_mode(), Memory(args.device).peak(result):
        start = time.perf_counter()
        scores = model([{"image": image}])[0]["sem_seg"]
        if args.device == "cuda":
            torch.cuda.synchronize()
        result["seconds"] = time.perf_counter() - start
    assert scores.shape[-2:] == (size, size)
    result["peak_mib"] -= held_mib
    return result


def baseline_mib(device: str) -> float:
    """What the process holds before the inference: subtracted from the peak."""
    import torch

    from mask2former.utils.process_memory import status_kib

    if device == "cuda":
        return torch.cuda.memory_allocated() / 2**20
    return status_kib("VmRSS") / 1024


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args)))
        return 0
    rows = []
    for size in args.sizes:
        row = [f"{size}x{size}"]
        for mode in MODES:
            command = [sys.executable, __file__, "--config-file", args.config_file,
                       "--device", args.device, "--threads", str(args.threads),
                       "--window", str(args.window), "--stride", str(args.stride),
                       "--child", mode, str(size), *args.opts]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr)
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"the {mode} run at {size}x{size} failed: {last}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row.append(f"{result['peak_mib']:.0f} MiB, {result['seconds']:.1f} s")
        rows.append(row)
        print(
            f"{row[0]}: " + "; ".join(f"{m} {v}" for m, v in zip(MODES, row[1:])), file=sys.stderr
        )
    print(
        f"{args.config_file}  window {args.window}, stride {args.stride}, {args.device}, "
        f"random weights"
    )
    print("| image | whole image | sliding |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    from mask2former.cli import run_cli

    return run_cli(main, argv, prog="benchmark_sliding_window.py")


if __name__ == "__main__":
    sys.exit(cli())
