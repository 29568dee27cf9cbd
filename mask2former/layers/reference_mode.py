"""The kernel switch: which implementation computes the model's four interchangeable kernels.

- multi-scale deformable attention (:func:`~mask2former.layers.ms_deform_attn.ms_deform_attn`):
  the compiled operator, or the pure-PyTorch ``grid_sample`` reference;
- multi-head attention (:class:`~mask2former.layers.attention.MultiheadAttention`):
  ``F.scaled_dot_product_attention``, or ``softmax(q k^T / sqrt(d) + mask) v`` step by step;
- semantic inference from low-resolution mask logits
  (:func:`~mask2former.modeling.postprocessing.outputs.semantic_scores`): the compiled operator
  that resizes, squashes and weighs the logits tile by tile, or the full-resolution steps
  (``F.interpolate``, sigmoid, ``einsum``);
- linear layers over long token sequences
  (:class:`~mask2former.layers.token_linear.TokenLinear`): oneDNN's 1x1 convolution in CPU
  inference, or ``F.linear``.

Both implementations of a kernel compute the same function. The reference kernels serve
comparisons (and counting FLOPs the way the published code runs); the published formulations
of the rest of the model live in :mod:`mask2former.utils.reference_model`, which runs its model
with the reference kernels.

- set the environment variable ``MASK2FORMER_DISABLE_CUSTOM_OPS=1`` before importing
  mask2former to start with the reference kernels, or
- wrap code in ``with use_reference_ops(): ...`` (``use_reference_ops(False)`` forces the fast
  kernels back on inside, wherever they can run).
"""

import contextlib
import os
from typing import Iterator

_reference = os.environ.get("MASK2FORMER_DISABLE_CUSTOM_OPS", "0") == "1"


@contextlib.contextmanager
def use_reference_ops(enabled: bool = True) -> Iterator[None]:
    """Within this context the reference kernels are used (or, with ``enabled=False``, the
    fast ones wherever they can run)."""
    global _reference
    previous, _reference = _reference, enabled
    try:
        yield
    finally:
        _reference = previous


def reference_ops_enabled() -> bool:
    """Whether the reference kernels are selected right now."""
    return _reference
