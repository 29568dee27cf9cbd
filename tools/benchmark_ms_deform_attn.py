#!/usr/bin/env python
"""Times multi-scale deformable attention: the compiled operator against the pure-PyTorch
reference, forward and forward+backward, at the shapes of Mask2Former's pixel decoder.

The pixel decoder's encoder runs self-attention over all positions of 3 levels (strides 8, 16,
32 of the input), so Q = S. Default: batch 2, 256 channels, 8 heads, 4 points, inputs of
512x512 and 1024x1024.

    python tools/benchmark_ms_deform_attn.py                  # CPU, plus CUDA if available
    python tools/benchmark_ms_deform_attn.py --device cpu --sizes 512 --repeats 5

Prints one table row per (device, input size, dtype) with median times in milliseconds and the
speed-up of the compiled op over the reference.
"""

import argparse
from typing import Dict, List

import torch

from mask2former.layers import (
    compiled_op_available,
    ms_deform_attn,
    ms_deform_attn_reference,
    use_reference_ops,
)
from mask2former.utils.timing import time_calls

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def make_inputs(size: int, batch: int, channels: int, heads: int, points: int, device, dtype):
    """Inputs of the encoder of a size x size image: levels at strides 8, 16 and 32, one query
    per position, sampling a few pixels around the query's own position on every level (as the
    trained model does; uniformly random locations would mostly measure cache misses)."""
    shapes = torch.tensor([[size // s, size // s] for s in (8, 16, 32)], device=device)
    level_sizes = shapes.prod(dim=1)
    starts = torch.cumsum(level_sizes, 0) - level_sizes
    num_positions = int(level_sizes.sum())
    num_levels = shapes.shape[0]
    value = torch.randn(batch, num_positions, heads, channels // heads, device=device, dtype=dtype)
    centres = []
    for h, w in shapes.tolist():
        y, x = torch.meshgrid(
            (torch.arange(h, device=device) + 0.5) / h,
            (torch.arange(w, device=device) + 0.5) / w,
            indexing="ij",
        )
        centres.append(torch.stack([x, y], dim=-1).reshape(-1, 2))
    reference_points = torch.cat(centres)[None, :, None, None, None, :]  # (1, S, 1, 1, 1, 2)
    offsets_px = 2.0 * torch.randn(
        batch, num_positions, heads, num_levels, points, 2, device=device
    )
    level_size_xy = shapes.flip(-1).to(offsets_px.dtype)[None, None, None, :, None, :]
    locations = (reference_points + offsets_px / level_size_xy).to(dtype)
    weights = torch.rand(
        batch, num_positions, heads, num_levels, points, device=device, dtype=dtype
    )
    weights = weights / weights.sum(dim=(-1, -2), keepdim=True)
    return value, shapes, starts, locations, weights


def time_implementation(
    inputs, reference: bool, device, repeats: int, warmup: int
) -> Dict[str, float]:
    value, shapes, starts, locations, weights = inputs
    grad_inputs = [t.detach().requires_grad_() for t in (value, locations, weights)]

    def run(*args):
        if reference:
            return ms_deform_attn_reference(*args)
        with use_reference_ops(False):
            return ms_deform_attn(*args)

    def forward():
        with torch.no_grad():
            run(value, shapes, starts, locations, weights)

    def forward_backward():
        v, loc, w = grad_inputs
        out = run(v, shapes, starts, loc, w)
        torch.autograd.grad(out, grad_inputs, torch.ones_like(out))

    return {
        name: 1000.0 * time_calls(fn, repeats=repeats, warmup=warmup, device=device).median
        for name, fn in (("fwd", forward), ("fwd+bwd", forward_backward))
    }


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=sorted(DTYPES),
        default=None,
        help="default: float32 on CPU; float32, float16, bfloat16 on CUDA",
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            parser.error("--device cuda: no CUDA device is available")
        devices.remove("cuda")

    header = (
        "| device | input | dtype | ref fwd ms | op fwd ms | fwd speed-up "
        "| ref fwd+bwd ms | op fwd+bwd ms | fwd+bwd speed-up |"
    )
    print(
        f"batch {args.batch}, {args.channels} channels, {args.heads} heads, 3 levels, "
        f"{args.points} points, Q = S; median of {args.repeats} runs; "
        f"CPU threads: {torch.get_num_threads()}"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for device_name in devices:
        device = torch.device(device_name)
        if not compiled_op_available(device):
            print(f"| {device_name} | compiled op not built for this device: skipped |")
            continue
        dtype_names = args.dtypes or (["float32"] if device_name == "cpu" else sorted(DTYPES))
        for size in args.sizes:
            for dtype_name in dtype_names:
                inputs = make_inputs(
                    size,
                    args.batch,
                    args.channels,
                    args.heads,
                    args.points,
                    device,
                    DTYPES[dtype_name],
                )
                ref = time_implementation(inputs, True, device, args.repeats, args.warmup)
                op = time_implementation(inputs, False, device, args.repeats, args.warmup)
                print(
                    f"| {device_name} | {size}x{size} | {dtype_name} "
                    f"| {ref['fwd']:.1f} | {op['fwd']:.1f} | {ref['fwd'] / op['fwd']:.1f}x "
                    f"| {ref['fwd+bwd']:.1f} | {op['fwd+bwd']:.1f} "
                    f"| {ref['fwd+bwd'] / op['fwd+bwd']:.1f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
