"""The error of the transformers converters."""

from ...errors import UserError

__all__ = ["ConversionError"]


class ConversionError(UserError, ValueError):
    """A transformers checkpoint, or a model of this project, that the converter cannot carry to
    the other side; the message names the file, key or tensors and what was expected."""
