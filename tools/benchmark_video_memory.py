#!/usr/bin/env python
"""Peak memory of video inference against video length, in one pass and clip by clip.

    python tools/benchmark_video_memory.py --config-file configs/youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml \
        --lengths 8 16 32 64 --size 360 640 --clip-length 16 --clip-overlap 4 [--budget-gb 6] [KEY VALUE ...]

Each (mode, length) runs in a fresh process on random weights and random frames of --size (the
model input: no resizing) on MODEL.DEVICE. Reported per run: the peak memory of the inference
above what the process held just before it (the model and the input frames); on the CPU the
peak resident set (VmHWM, reset before the inference), on CUDA torch's peak allocation. Once
a mode's peak passes --budget-gb, its longer videos are skipped. Prints a Markdown table.
"""

import argparse
import json
import os
import subprocess
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--size", type=int, nargs=2, default=[360, 640], metavar=("H", "W"))
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--clip-overlap", type=int, default=4)
    parser.add_argument(
        "--budget-gb", type=float, default=6.0, help="skip longer videos of a mode past this peak"
    )
    parser.add_argument("--threads", type=int, default=1)
    # internal: one measurement in this process
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def measure(args) -> dict:
    """One inference in this process: {"peak_mb", "held_mb", "seconds"}."""
    import torch
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from mask2former.config import merge_config
    from mask2former.utils.memory import Memory, held_mib
    from mask2former.utils.timing import clock
    from mask2former.video import add_video_model_config

    torch.set_num_threads(args.threads)
    length, clip_length, clip_overlap = args.child
    cfg = get_cfg()
    add_video_model_config(cfg)
    merge_config(cfg, args.config_file, args.opts)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH = clip_length
    cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP = clip_overlap
    model = build_model(cfg).eval()
    h, w = args.size
    generator = torch.Generator().manual_seed(0)
    frames = [
        torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=generator)
        for _ in range(length)
    ]
    device = model.device.type
    held = held_mib(device)
    result = {}
    with Memory(device).peak(result), torch.no_grad():
        start = clock(model.device)
        model.inference_video(frames)
        seconds = clock(model.device) - start
    return {"peak_mb": result["peak_mib"] - held, "held_mb": held, "seconds": seconds}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args)))
        return 0
    modes = [
        ("one pass", 0, 0),
        (
            f"clips of {args.clip_length} (overlap {args.clip_overlap})",
            args.clip_length,
            args.clip_overlap,
        ),
    ]
    results = {}
    for name, clip_length, clip_overlap in modes:
        over_budget = False
        for length in sorted(args.lengths):
            if over_budget:
                results[name, length] = None
                continue
            command = [
                sys.executable, os.path.abspath(__file__), "--config-file", args.config_file,
                "--size", *map(str, args.size), "--threads", str(args.threads),
                "--child", str(length), str(clip_length), str(clip_overlap), *args.opts,
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            results[name, length] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name}, {length} frames: {results[name, length]}", file=sys.stderr)
            over_budget = results[name, length]["peak_mb"] > args.budget_gb * 1024
    h, w = args.size
    print(
        f"\n{args.config_file}, {h}x{w} frames, peak memory of the inference above the model and "
        f"the input frames (MB; seconds in brackets):\n"
    )
    print(
        "| frames | "
        + " | ".join(name for name, _, _ in modes)
        + " | input frames | output masks |"
    )
    print("|---" * (len(modes) + 3) + "|")
    for length in sorted(args.lengths):
        cells = []
        for name, _, _ in modes:
            r = results[name, length]
            cells.append(
                "over budget" if r is None else f"{r['peak_mb']:.0f} ({r['seconds']:.0f} s)"
            )
        frames_mb = length * 3 * h * w / 2**20
        masks_mb = 10 * length * h * w / 2**20
        print(f"| {length} | " + " | ".join(cells) + f" | {frames_mb:.0f} | {masks_mb:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
