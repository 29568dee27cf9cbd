"""The conventions every command-line entry point shares.

- :func:`run_cli` runs an entry point's ``main(argv)``: a :class:`~mask2former.errors.UserError`
  becomes one line on stderr, ``<program>: error: <message>``, and exit status 2 (argparse's
  status for a bad command line). ``--debug`` on the command line or ``MASK2FORMER_DEBUG=1``
  in the environment shows the traceback instead.
"""
import os
import sys
from typing import Callable, List, Optional

from .errors import UserError

__all__ = ["DEBUG_ENV", "debug_requested", "run_cli"]

DEBUG_ENV = "MASK2FORMER_DEBUG"


def debug_requested(argv: Optional[List[str]] = None) -> bool:
    """Whether tracebacks were asked for: ``--debug`` in ``argv`` (``sys.argv`` when None) or
    ``MASK2FORMER_DEBUG`` set to a value other than "" or "0"."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "0") not in ("", "0")


def run_cli(main: Callable[[Optional[List[str]]], Optional[int]], argv=None, prog=None) -> int:
    """``main(argv)``'s exit status (None counts as 0); a ``UserError`` is printed as one line
    and gives 2, unless :func:`debug_requested`, which lets it propagate with its traceback."""
    prog = prog or os.path.basename(sys.argv[0]) or "mask2former"
    try:
        status = main(argv)
    except UserError as e:
        if debug_requested(argv):
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)
