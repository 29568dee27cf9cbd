#!/usr/bin/env python
"""Time and peak memory of semantic post-processing: the compiled kernel
(``mask2former::semantic_scores``, no full-resolution intermediate) against the full-resolution
steps (upsampling, crop and resize, sigmoid, class product) it replaces.

    python tools/benchmark_semantic_scores.py --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        --sizes 512 1024 2048 --output-scale 1 --threads 2 [--device cuda]

Post-processing runs as the model runs it (``postprocess`` with the config's inference
settings, its number of queries and classes) on random network outputs: mask logits at 1/4 of
a square padded input of each size, the image filling the padding, the results at
``--output-scale`` times the size (1 as in the predictor; evaluation resizes the results to the
original image). Each (kernel, size) runs in a fresh process, the two kernels alternating:
peak memory of the first call above what the process held before it (CPU: peak resident set
size; CUDA: torch's peak allocation), then the median time of ``--repeats`` calls. Prints a
Markdown table.
"""

import sys

KERNELS = ("full resolution", "compiled")


def parse_args(argv=None):
    from mask2former.cli import parse_size_sweep_args, size_sweep_parser

    parser = size_sweep_parser(__doc__)
    parser.add_argument("--output-scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    return parse_size_sweep_args(parser, argv)


def measure(args) -> dict:
    """One (kernel, size) in this process: {"peak_mib", "seconds"}."""
    import torch

    from mask2former.layers import use_reference_ops
    from mask2former.modeling.postprocessing import InferenceSpec, postprocess
    from mask2former.utils.memory import Memory, held_mib
    from mask2former.utils.timing import time_calls

    kernel, size, cfg = args.mode, args.size, args.cfg
    spec = InferenceSpec.from_config(cfg)
    queries = cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES
    g = torch.Generator().manual_seed(0)
    pred_logits = torch.randn(1, queries, spec.num_classes + 1, generator=g).to(args.device)
    pred_masks = torch.randn(1, queries, size // 4, size // 4, generator=g).to(args.device)
    output = round(size * args.output_scale)

    def run():
        return postprocess(
            pred_logits, pred_masks, spec, (size, size), [(size, size)], [(output, output)]
        )

    result = {}
    before = held_mib(args.device)
    with use_reference_ops(kernel == "full resolution"), torch.inference_mode():
        with Memory(args.device).peak(result):
            scores = run()[0]["sem_seg"]
        result["peak_mib"] -= before
        assert scores.shape == (spec.num_classes, output, output)
        del scores
        result["seconds"] = time_calls(run, repeats=args.repeats, device=args.device).median
    return result


def main(argv=None) -> int:
    from mask2former.cli import run_size_sweep

    args = parse_args(argv)
    options = ["--output-scale", str(args.output_scale), "--repeats", str(args.repeats)]
    results = run_size_sweep(__file__, args, measure, KERNELS, options)
    if results is None:
        return 0
    print(f"{args.config_file}  semantic post-processing, {args.device}, random outputs")
    print("| padded input -> output | full resolution | compiled kernel | speed-up |")
    print("|---|---|---|---|")
    for size, by_kernel in results.items():
        full, fused = (by_kernel[k] for k in KERNELS)
        output = round(size * args.output_scale)
        print(
            f"| {size}x{size} -> {output}x{output} | {full['seconds'] * 1000:.0f} ms, "
            f"{full['peak_mib']:.0f} MiB | {fused['seconds'] * 1000:.0f} ms, "
            f"{fused['peak_mib']:.0f} MiB | {full['seconds'] / fused['seconds']:.2f}x |"
        )
    return 0


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    from mask2former.cli import run_cli

    return run_cli(main, argv, prog="benchmark_semantic_scores.py")


if __name__ == "__main__":
    sys.exit(cli())
