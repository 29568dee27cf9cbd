"""Imports the modules of fvcore and Detectron2 that call ``torch.jit.script`` at import time
(``fvcore.nn``'s losses, ``detectron2.modeling``'s box regression) with the FutureWarning that
those calls raise under recent PyTorch silenced: every command printed it twice, even
``--help``, and it is theirs to fix, not the user's. Only that message, only during these
imports: other warnings and later ``torch.jit.script`` calls are unaffected.

``mask2former/__init__.py`` imports this module first, so entry points that import
``mask2former`` before ``detectron2.engine`` / ``detectron2.modeling`` never show it.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
    )
    import detectron2.modeling  # noqa: F401
    import fvcore.nn  # noqa: F401
