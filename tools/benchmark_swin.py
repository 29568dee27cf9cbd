#!/usr/bin/env python
"""Time the D2SwinTransformer forward pass with its SDPA window attention against its reference
model (``mask2former.utils.reference_model``, same weights), which computes attention
explicitly (matmul, softmax, matmul; the published formulation).

    python tools/benchmark_swin.py --variants tiny base --sizes 512 --device cpu
"""

import argparse
import functools

import torch

from mask2former.modeling.backbone.swin import D2SwinTransformer
from mask2former.utils.reference_model import reference_model
from mask2former.utils.timing import time_calls

VARIANTS = {  # embed_dim, depths, num_heads, window_size (published configs)
    "tiny": (96, [2, 2, 6, 2], [3, 6, 12, 24], 7),
    "small": (96, [2, 2, 18, 2], [3, 6, 12, 24], 7),
    "base": (128, [2, 2, 18, 2], [4, 8, 16, 32], 12),
    "large": (192, [2, 2, 18, 2], [6, 12, 24, 48], 12),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=["tiny"], choices=sorted(VARIANTS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[512])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"device: {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| variant | input | SDPA wall / CPU (ms) | explicit wall / CPU (ms) | speed-up (CPU) |")
    print("|---|---|---|---|---|")
    for variant in args.variants:
        embed_dim, depths, heads, window = VARIANTS[variant]
        model = D2SwinTransformer(
            embed_dim=embed_dim, depths=depths, num_heads=heads, window_size=window
        )
        model = model.to(args.device).eval()
        models = {"sdpa": model, "explicit": reference_model(model)}
        for size in args.sizes:
            images = torch.randn(1, 3, size, size, device=args.device)
            times = {}
            for kind, m in models.items():
                with torch.no_grad():
                    t = time_calls(
                        functools.partial(m, images), repeats=args.repeats, device=images.device
                    )
                # the CPU time is the steadier figure on a shared machine
                times[kind] = (1000 * t.median, 1000 * t.cpu_median)
            (sdpa_wall, sdpa_cpu), (explicit_wall, explicit_cpu) = times["sdpa"], times["explicit"]
            print(
                f"| {variant} | {size}x{size} | {sdpa_wall:.0f} / {sdpa_cpu:.0f} "
                f"| {explicit_wall:.0f} / {explicit_cpu:.0f} | {explicit_cpu / sdpa_cpu:.2f}x |"
            )


if __name__ == "__main__":
    main()
