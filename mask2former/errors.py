"""Errors that are the user's to fix: a config value, a file, a command-line argument.

Every entry point (``train_net.py``, ``demo/demo.py``, the tools) reports a :class:`UserError`
as one line that says what is wrong, where, and how to fix it, and exits with status 2; the
traceback is shown only on request (``--debug`` or ``MASK2FORMER_DEBUG=1``, see
:mod:`mask2former.cli`). Library code raises subclasses of it, which also derive from the
built-in exception a caller would expect (``KeyError``, ``ValueError``, ``FileNotFoundError``).
"""

__all__ = ["UsageError", "UserError"]


class UserError(Exception):
    """A problem with the user's input whose message names the key or file, what was expected
    and the fix."""

    def __str__(self):  # KeyError subclasses would otherwise show the message quoted
        return str(self.args[0]) if self.args else ""


class UsageError(UserError, ValueError):
    """Command-line arguments that cannot work together, found after parsing (argparse
    reports the ones it can check itself)."""
