"""The command line shared by the dataset preparation scripts (``datasets/prepare_*.py``), which
wrap the conversions of :mod:`mask2former.data.preparation`."""

import argparse
import os
import sys
from typing import Callable, List, Optional

from ..cli import debug_requested, run_cli
from ..data.datasets.catalog import datasets_root

__all__ = ["preparation_root", "run_preparation_script"]


def preparation_root(description: str, argv: Optional[List[str]] = None) -> str:
    """The datasets root a preparation script's command line names: ``--root`` (default:
    $DETECTRON2_DATASETS or ./datasets); ``--debug`` is read by :func:`run_preparation_script`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--root",
        default=datasets_root(),
        help="datasets root (default: $DETECTRON2_DATASETS or ./datasets)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser.parse_args(argv).root


def run_preparation_script(main: Callable[[Optional[List[str]]], None]) -> int:
    """Run a preparation script's ``main`` for the command line: missing inputs
    (FileNotFoundError) and other mistakes of the user are one line and exit status 2, unless
    ``--debug``."""
    try:
        return run_cli(main)
    except FileNotFoundError as e:
        if debug_requested():
            raise
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        return 2
