#!/usr/bin/env python
"""Parameters, FLOPs, activations and structure of a model, as in the published tool the
papers' tables come from (fvcore; one fused multiply-add counts as one flop).

    # parameters and structure: no weights or data needed
    python tools/analyze_model.py --tasks parameter structure --config-file CONFIG
    # semantic segmentation (the papers' ADE20K figures): one image of the crop size
    python tools/analyze_model.py --tasks flop --use-fixed-input-size --config-file CONFIG \
        MODEL.WEIGHTS model.pkl
    # panoptic / instance: the average over the first 100 images of cfg.DATASETS.TEST[0]
    python tools/analyze_model.py --tasks flop -n 100 --config-file CONFIG MODEL.WEIGHTS model.pkl
    # the same over the val split of your own dataset (docs/custom_data.md)
    python tools/analyze_model.py --tasks flop --dataset my_data.yaml --config-file CONFIG
    # any input size, random weights
    python tools/analyze_model.py --tasks flop --input-size 800 1216 --random-weights \
        --config-file CONFIG
    # the published code's computation (the papers' figures), same weights
    python tools/analyze_model.py --tasks flop --reference --use-fixed-input-size --config-file CONFIG

Unlike the published tool, the count includes multi-scale deformable attention and fused
attention (handles in mask2former/utils/analysis.py). Figures against the papers: docs/analysis.md.
"""

import argparse
import sys

import torch
from detectron2.config import get_cfg
from detectron2.data import build_detection_test_loader
from detectron2.modeling import build_model
from detectron2.utils.analysis import parameter_count_table
from detectron2.utils.logger import setup_logger
from fvcore.nn import flop_count_table, parameter_count

from mask2former import add_maskformer2_config
from mask2former.checkpoint import MaskFormerCheckpointer
from mask2former.cli import add_config_arguments, config_overrides
from mask2former.config import merge_config
from mask2former.engine.predictor import load_trained_weights
from mask2former.utils.analysis import (
    activation_count_analysis,
    count_over_inputs,
    flop_count_analysis,
)
from mask2former.utils.reference_model import reference_model

TASKS = ("flop", "activation", "parameter", "structure")


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", choices=TASKS, required=True, nargs="+")
    parser.add_argument(
        "-n", "--num-inputs", default=100, type=int,
        help="images of cfg.DATASETS.TEST[0] to average flops / activations over",
    )  # fmt: skip
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--use-fixed-input-size", action="store_true",
        help="one zero image of INPUT.CROP.SIZE[0] squared (the papers' semantic figures)",
    )  # fmt: skip
    size.add_argument(
        "--input-size", type=int, nargs=2, metavar=("H", "W"), help="one zero image of this size"
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="count without loading MODEL.WEIGHTS"
    )
    parser.add_argument(
        "--reference", action="store_true",
        help="count the model as the published code computes it (mask2former.utils.reference_model)",
    )  # fmt: skip
    # --config-file, --dataset (images of its val split; the model takes its classes), --debug, overrides
    return add_config_arguments(parser)


def setup_cfg(args):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    merge_config(cfg, args.config_file, config_overrides(args))
    cfg.DATALOADER.NUM_WORKERS = 0
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def input_batches(cfg, args):
    """Batches of one image: a zero image of the fixed size (outputs at that size), or the
    first images of the test set as evaluation loads them."""
    if args.use_fixed_input_size or args.input_size:
        h, w = args.input_size or (cfg.INPUT.CROP.SIZE[0],) * 2
        return [[{"image": torch.zeros(3, h, w), "height": h, "width": w}]]
    loader = build_detection_test_loader(cfg, cfg.DATASETS.TEST[0])
    return (batch for _, batch in zip(range(args.num_inputs), loader))


def trained_model(cfg, args):
    model = build_model(cfg).eval()
    if not args.random_weights:
        load_trained_weights(MaskFormerCheckpointer(model), cfg.MODEL.WEIGHTS)
    return reference_model(model) if args.reference else model


def do_flop(cfg, model, batches):
    with torch.no_grad():
        result = count_over_inputs(flop_count_analysis, model, batches)
    print("FLOPs of the first input:\n" + flop_count_table(result["first"]))
    print("Average GFLOPs by operator:")
    for op, value in sorted(result["by_operator"].items(), key=lambda kv: -kv[1]):
        print(f"  {op:40s} {value / 1e9:10.3f}")
    print(
        f"Total GFLOPs: {result['mean'] / 1e9:.1f}±{result['std'] / 1e9:.1f} over {len(result['totals'])} inputs"
    )
    return result


def do_activation(cfg, model, batches):
    with torch.no_grad():
        result = count_over_inputs(activation_count_analysis, model, batches)
    print("Average million activations by operator:")
    for op, value in sorted(result["by_operator"].items(), key=lambda kv: -kv[1]):
        print(f"  {op:40s} {value / 1e6:10.3f}")
    print(f"Total million activations: {result['mean'] / 1e6:.1f}±{result['std'] / 1e6:.1f}")
    return result


def do_parameter(model):
    print("Parameter count:\n" + parameter_count_table(model, max_depth=5))
    total = parameter_count(model)[""]
    print(f"Total parameters: {total} ({total / 1e6:.1f}M)")
    return total


def run(argv=None):
    """Run the tasks of the command line ``argv``; returns {task: result} (flop / activation:
    :func:`~mask2former.utils.analysis.count_over_inputs`'s dict, parameter: the total)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_inputs < 1:
        parser.error("--num-inputs must be at least 1")
    setup_logger(name="fvcore")
    setup_logger()
    cfg = setup_cfg(args)
    fixed_size = args.use_fixed_input_size or args.input_size
    if {"flop", "activation"} & set(args.tasks) and not fixed_size and not cfg.DATASETS.TEST:
        parser.error("the config names no DATASETS.TEST to take images from: pass --input-size H W")
    results = {}
    for task in args.tasks:
        if task in ("parameter", "structure"):
            model = build_model(cfg).eval()
            if task == "parameter":
                results[task] = do_parameter(model)
            else:
                print("Model structure:\n" + str(model))
        else:
            model = trained_model(cfg, args)
            do = do_flop if task == "flop" else do_activation
            results[task] = do(cfg, model, input_batches(cfg, args))
    return results


def main(argv=None):
    run(argv)


if __name__ == "__main__":
    from mask2former.cli import run_cli

    sys.exit(run_cli(main))
