"""The command line of the scripts that turn classification weights into a Detectron2 ``.pkl``
(``tools/convert-torchvision-to-d2.py``, ``tools/convert-pretrained-swin-model-to-d2.py``):
``INPUT OUTPUT [options]``, and the file they write."""

import argparse
from typing import Dict

from ..checkpoint import write_d2_pickle

__all__ = ["parser", "write"]


def parser(description: str, input_help: str) -> argparse.ArgumentParser:
    """The arguments ``input`` (described by ``input_help``) and ``output``; a script adds its
    options."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help=input_help)
    parser.add_argument("output", help="Detectron2 .pkl to write")
    return parser


def write(converted: Dict, path: str, author: str, note: str = "") -> None:
    """Writes ``converted`` to the Detectron2 ``.pkl`` ``path`` and says so (``note`` after the
    number of tensors)."""
    write_d2_pickle(converted, path, author=author)
    print(f"Wrote {len(converted)} tensors{note} to {path}")
