#!/usr/bin/env python
"""Convert a weight file (.pkl or .pth) into .safetensors, which holds no code and loads
without pickle through MODEL.WEIGHTS.

    python tools/convert_checkpoint.py model_final.pkl model_final.safetensors

Only the tensors of "model" are kept; scalar entries such as "__author__" and
"matching_heuristics" become safetensors metadata (so name matching works as with the .pkl),
while optimizer / scheduler state is left out. The input is unpickled with an allow-list of
what weights need (containers, numpy arrays, tensors); a file that needs more is refused
unless --trust-pickle is given, which lets its pickle run: use it only for files you trust.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mask2former.checkpoint import (
    SAFETENSORS_SUFFIX,
    read_checkpoint,
    write_safetensors,
)  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help="a .pkl (Detectron2) or .pth / .pt (torch.save) file")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle the input without the allow-list (runs any code the file holds)",
    )
    args = parser.parse_args(argv)
    if not args.output.endswith(SAFETENSORS_SUFFIX):
        parser.error(f"output {args.output!r} must end with {SAFETENSORS_SUFFIX}")
    if not Path(args.input).is_file():
        parser.error(f"input {args.input!r} does not exist")

    checkpoint = read_checkpoint(args.input, trust_pickle=args.trust_pickle)
    left_out = write_safetensors(checkpoint, args.output)
    print(f"Wrote {len(checkpoint['model'])} tensors to {args.output}")
    metadata = {k: v for k, v in checkpoint.items() if k != "model" and k not in left_out}
    if metadata:
        print(f"Metadata: {metadata}")
    if left_out:
        print(f"Left out (not weights): {', '.join(left_out)}")


if __name__ == "__main__":
    main()
