#!/usr/bin/env python
"""Peak memory and time of semantic inference against image size: the whole image at once
against sliding windows (MODEL.MASK_FORMER.TEST.SLIDING_WINDOW).

    python tools/benchmark_sliding_window.py --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        --sizes 512 1024 2048 --window 512 --stride 341 --threads 2 [--device cuda] [KEY VALUE ...]

Each (mode, size) runs in a fresh process on random weights and a random square image of that
size given to the model as it is (no test-time resize), with the output at the same size.
Reported: the peak memory of the inference above what the process held just before it (the
model and the image); on the CPU the peak resident set size (VmHWM, reset before the
inference, see ``mask2former.utils.memory``), on CUDA torch's peak allocation. Prints a
Markdown table.
"""

import sys
import time

MODES = ("whole image", "sliding")


def parse_args(argv=None):
    from mask2former.cli import parse_size_sweep_args, size_sweep_parser

    parser = size_sweep_parser(__doc__)
    parser.add_argument("--window", type=int, default=512, help="square window side (pixels)")
    parser.add_argument("--stride", type=int, default=341, help="step between windows (pixels)")
    return parse_size_sweep_args(parser, argv)


def measure(args) -> dict:
    """One inference in this process: {"peak_mib", "seconds"}."""
    import torch
    from detectron2.modeling import build_model

    from mask2former.utils.memory import Memory, held_mib

    mode, size, cfg = args.mode, args.size, args.cfg
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    window = cfg.MODEL.MASK_FORMER.TEST.SLIDING_WINDOW
    window.ENABLED = mode == "sliding"
    window.SIZE, window.STRIDE = [args.window] * 2, [args.stride] * 2
    model = build_model(cfg).eval()
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8).float().to(args.device)
    result = {}
    held = held_mib(args.device)
    with torch.inference_mode(), Memory(args.device).peak(result):
        start = time.perf_counter()
        scores = model([{"image": image}])[0]["sem_seg"]
        if args.device == "cuda":
            torch.cuda.synchronize()
        result["seconds"] = time.perf_counter() - start
    assert scores.shape[-2:] == (size, size)
    result["peak_mib"] -= held
    return result


def main(argv=None) -> int:
    from mask2former.cli import run_size_sweep

    args = parse_args(argv)
    options = ["--window", str(args.window), "--stride", str(args.stride)]
    results = run_size_sweep(__file__, args, measure, MODES, options)
    if results is None:
        return 0
    print(
        f"{args.config_file}  window {args.window}, stride {args.stride}, {args.device}, "
        f"random weights"
    )
    print("| image | whole image | sliding |")
    print("|---|---|---|")
    for size, by_mode in results.items():
        cells = [f"{by_mode[m]['peak_mib']:.0f} MiB, {by_mode[m]['seconds']:.1f} s" for m in MODES]
        print(f"| {size}x{size} | " + " | ".join(cells) + " |")
    return 0


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    from mask2former.cli import run_cli

    return run_cli(main, argv, prog="benchmark_sliding_window.py")


if __name__ == "__main__":
    sys.exit(cli())
