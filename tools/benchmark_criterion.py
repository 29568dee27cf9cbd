#!/usr/bin/env python
"""Times the training objective of a config: the Hungarian matcher and the set criterion's
losses (forward and backward), on random network outputs of every decoder layer.

    python tools/benchmark_criterion.py --config-file ade20k/R50.yaml --sizes 256 512 \
        --threads 2 --reference

The criterion is built from the config as the model builds it (its classes, queries, decoder
layers, TRAIN_NUM_POINTS, OVERSAMPLE_RATIO and IMPORTANCE_SAMPLE_RATIO). For each input size S,
a batch of ``--batch`` images with ``--targets`` segments each (masks S x S, smooth random
shapes) against mask logits at S/4 x S/4 for every decoder layer (deep supervision). Parts, each
the median of ``--repeats`` calls with the same random seed:

- matcher: matching every layer's outputs (no gradients);
- mask losses: "loss_mask" and "loss_dice" of every layer on fixed matches (point sampling
  included), forward and backward;
- criterion: the whole criterion (matching, all losses), forward and backward.

``--reference`` also times the published formulation (``mask2former.utils.reference_model``),
the two alternating call by call so that both see the same machine load. Prints a Markdown
table.
"""

import argparse
import sys

PARTS = ("matcher", "mask losses", "criterion")


def parse_args(argv=None):
    import torch

    from mask2former.cli import add_config_arguments, config_overrides

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="input sizes")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--targets", type=int, default=10, help="segments per image")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--reference", action="store_true", help="also time the published formulation"
    )
    add_config_arguments(parser, default_config="ade20k/R50.yaml")
    args = parser.parse_args(argv)
    args.opts = config_overrides(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return args


def random_outputs(batch, queries, classes, mask_size, layers, generator, device):
    """Network outputs of ``layers`` decoder layers: the last as "pred_logits" (B, Q, K+1) and
    "pred_masks" (B, Q, s, s) leaf tensors that require gradients, the others in
    "aux_outputs"."""
    import torch

    def layer():
        return {
            "pred_logits": torch.randn(batch, queries, classes + 1, generator=generator),
            "pred_masks": 3
            * torch.randn(batch, queries, mask_size, mask_size, generator=generator),
        }

    per_layer = [
        {k: v.to(device).requires_grad_() for k, v in layer().items()} for _ in range(layers)
    ]
    return {**per_layer[-1], "aux_outputs": per_layer[:-1]}


def random_targets(batch, segments, classes, size, generator, device):
    """``batch`` targets of ``segments`` smooth random (size, size) masks each."""
    import torch
    import torch.nn.functional as F

    targets = []
    for _ in range(batch):
        noise = torch.randn(segments, 1, size // 32 + 1, size // 32 + 1, generator=generator)
        masks = F.interpolate(noise, size=(size, size), mode="bilinear")[:, 0] > 0.5
        labels = torch.randint(0, classes, (segments,), generator=generator)
        targets.append({"labels": labels.to(device), "masks": masks.to(device)})
    return targets


def part_calls(criterion, outputs, targets):
    """{part: a call computing it} for :data:`PARTS`."""
    import torch

    layers = [outputs] + outputs["aux_outputs"]
    num_masks = float(sum(len(t["labels"]) for t in targets))
    with torch.no_grad():
        torch.manual_seed(0)
        indices = [criterion.matcher(layer, targets) for layer in layers]

    def matcher():
        torch.manual_seed(0)
        with torch.no_grad():
            for layer in layers:
                criterion.matcher(layer, targets)

    def mask_losses():
        torch.manual_seed(0)
        losses = [
            criterion.loss_masks(layer, targets, match, num_masks)
            for layer, match in zip(layers, indices)
        ]
        sum(sum(parts.values()) for parts in losses).backward()

    def whole():
        torch.manual_seed(0)
        sum(criterion(outputs, targets).values()).backward()

    return dict(zip(PARTS, (matcher, mask_losses, whole)))


def measure(args, cfg, size: int) -> dict:
    """{formulation: {part: median seconds}} at input size ``size``."""
    import torch

    from mask2former.modeling.meta_arch.maskformer import build_criterion
    from mask2former.utils.reference_model import reference_model
    from mask2former.utils.timing import time_calls

    mf = cfg.MODEL.MASK_FORMER
    classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    criterion = build_criterion(cfg, classes).to(args.device)
    formulations = {"this project": criterion}
    if args.reference:
        formulations["published"] = reference_model(criterion)
    g = torch.Generator().manual_seed(0)
    layers = mf.DEC_LAYERS if mf.DEEP_SUPERVISION else 1
    outputs = random_outputs(
        args.batch, mf.NUM_OBJECT_QUERIES, classes, size // 4, layers, g, args.device
    )
    targets = random_targets(args.batch, args.targets, classes, size, g, args.device)
    calls = {name: part_calls(c, outputs, targets) for name, c in formulations.items()}
    results = {name: {} for name in formulations}
    for part in PARTS:
        for _ in range(args.warmup):
            for name in formulations:
                calls[name][part]()
        for name in formulations:
            results[name][part] = []
        for _ in range(args.repeats):  # formulations alternate call by call
            for name in formulations:
                timing = time_calls(calls[name][part], repeats=1, warmup=0, device=args.device)
                results[name][part].append(timing.median)
    return {
        name: {part: sorted(t)[len(t) // 2] for part, t in by_part.items()}
        for name, by_part in results.items()
    }


def main(argv=None) -> int:
    import torch

    from mask2former.cli import load_config

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config_file, args.opts)
    mf = cfg.MODEL.MASK_FORMER
    print(
        f"{args.config_file}: {args.device}, {torch.get_num_threads()} threads, batch "
        f"{args.batch}, {args.targets} segments per image, {mf.NUM_OBJECT_QUERIES} queries, "
        f"{mf.DEC_LAYERS} decoder layers, {mf.TRAIN_NUM_POINTS} points; median ms of "
        f"{args.repeats} calls"
    )
    names = ["this project"] + (["published"] if args.reference else [])
    header = "| input (mask logits) | part | " + " | ".join(names)
    print(header + (" | speed-up |" if args.reference else " |"))
    print("|---" * (len(names) + 2 + args.reference) + "|")
    for size in args.sizes:
        results = measure(args, cfg, size)
        for part in PARTS:
            times = [results[name][part] for name in names]
            row = f"| {size} ({size // 4}x{size // 4}) | {part} | "
            row += " | ".join(f"{t * 1000:.1f}" for t in times)
            if args.reference:
                row += f" | {times[1] / times[0]:.2f}x"
            print(row + " |")
    return 0


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    from mask2former.cli import run_cli

    return run_cli(main, argv, prog="benchmark_criterion.py")


if __name__ == "__main__":
    sys.exit(cli())
