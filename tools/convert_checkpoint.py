#!/usr/bin/env python
"""Convert weights: pickles to .safetensors, and from / to Hugging Face transformers.

    # a .pkl or .pth file -> .safetensors (no code, loads without pickle through MODEL.WEIGHTS)
    python tools/convert_checkpoint.py model_final.pkl model_final.safetensors

    # a transformers checkpoint folder (config.json + model.safetensors or pytorch_model.bin)
    # of Mask2FormerForUniversalSegmentation / MaskFormerForInstanceSegmentation -> OUT_DIR
    # with model_final.safetensors, config.yaml and categories.json
    python tools/convert_checkpoint.py HF_FOLDER OUT_DIR [--task panoptic ...]

    # this project's config + weights -> a folder that transformers' from_pretrained loads
    python tools/convert_checkpoint.py --to-transformers CONFIG WEIGHTS OUT_DIR

Pickle to safetensors: only the tensors of "model" are kept; scalar entries such as "__author__"
and "matching_heuristics" become safetensors metadata (so name matching works as with the
.pkl), while optimizer / scheduler state is left out. The input is unpickled with an allow-list
of what weights need (containers, numpy arrays, tensors); a file that needs more is refused
unless --trust-pickle is given, which lets its pickle run: use it only for files you trust.

transformers: every tensor is accounted for in both directions (a tensor without counterpart,
or one missing, stops the conversion and is named); see docs/weights.md.
"""

import argparse
import os
import sys

from mask2former.checkpoint import (
    SAFETENSORS_SUFFIX,
    read_checkpoint,
    write_safetensors,
)
from mask2former.checkpoint.huggingface import TASKS, export_checkpoint, import_checkpoint
from mask2former.cli import run_cli
from mask2former.model_zoo import get_config_file

# the training settings a converted config starts from, by transformers model_type
RECIPES = {
    "mask2former": get_config_file("Base-Mask2Former.yaml"),
    "maskformer": get_config_file("maskformer/Base-MaskFormer.yaml"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "input",
        help="a .pkl (Detectron2) or .pth / .pt (torch.save) file, or a transformers "
        "checkpoint folder",
    )
    parser.add_argument("output", help="the .safetensors file, or the folder to write")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle the input without the allow-list (runs any code the file holds)",
    )
    hf = parser.add_argument_group("from transformers (input is a checkpoint folder)")
    hf.add_argument(
        "--task",
        action="append",
        choices=TASKS,
        help="inference result the config turns on (repeat for several; default: semantic)",
    )
    hf.add_argument(
        "--thing-classes",
        nargs="+",
        default=[],
        metavar="CLASS",
        help="names or ids of the thing classes (panoptic inference keeps their segments apart)",
    )
    hf.add_argument(
        "--dataset",
        help="a registered dataset with the same classes (e.g. coco_2017_val_panoptic): its "
        "metadata gives the class names, colours and thing classes instead of categories.json",
    )
    hf.add_argument(
        "--format",
        choices=["safetensors", "pth"],
        default="safetensors",
        help="weights file format",
    )
    parser.add_argument(
        "--to-transformers",
        metavar="CONFIG",
        help="write INPUT (weights of this project) with its config CONFIG as a transformers "
        "checkpoint folder OUTPUT",
    )
    parser.add_argument(
        "--opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="KEY VALUE config overrides (applied to the written config, or to CONFIG)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    if not os.path.exists(args.input):
        parser.error(f"input {args.input!r} does not exist")
    return parser, args


def to_safetensors(args):
    checkpoint = read_checkpoint(args.input, trust_pickle=args.trust_pickle)
    left_out = write_safetensors(checkpoint, args.output)
    print(f"Wrote {len(checkpoint['model'])} tensors to {args.output}")
    metadata = {k: v for k, v in checkpoint.items() if k != "model" and k not in left_out}
    if metadata:
        print(f"Metadata: {metadata}")
    if left_out:
        print(f"Left out (not weights): {', '.join(left_out)}")


def from_transformers(args):
    result = import_checkpoint(
        args.input,
        args.output,
        tasks=args.task or ["semantic"],
        thing_classes=args.thing_classes,
        dataset=args.dataset,
        weights_format=args.format,
        recipes=RECIPES,
        opts=args.opts,
    )
    print(
        f"Wrote {result.num_tensors} tensors ({len(result.derived)} of them derived from the "
        f"config) to {result.weights_file}"
    )
    if result.carried:
        print(
            f"Kept aside for the way back {len(result.carried)} tensors that this project's "
            f"model does not use: {', '.join(result.carried[:4])}"
            + (" ..." if len(result.carried) > 4 else "")
        )
    print(f"Config: {result.config_file}")
    if result.categories_file:
        print(f"Class names: {result.categories_file}")
    for note in result.notes:
        print(f"Note: {note}")


def to_transformers(args):
    result = export_checkpoint(args.to_transformers, args.input, args.output, args.opts)
    print(f"Wrote {result.num_tensors} tensors and configs to {args.output}")
    if result.defaults:
        print(
            f"{len(result.defaults)} transformers tensors that this project's model does not use "
            "have transformers' initial values"
        )
    for note in result.notes:
        print(f"Note: {note}")


def main(argv=None):
    parser, args = parse_args(argv)
    if args.to_transformers:
        return to_transformers(args)
    if os.path.isdir(args.input):
        return from_transformers(args)
    if not args.output.endswith(SAFETENSORS_SUFFIX):
        parser.error(f"output {args.output!r} must end with {SAFETENSORS_SUFFIX}")
    return to_safetensors(args)


if __name__ == "__main__":
    sys.exit(run_cli(main))
