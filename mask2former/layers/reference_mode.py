"""One switch between the fast and the plain reference implementations of the model's kernels.

Consulted by ``ms_deform_attn`` (compiled operator vs. pure-PyTorch sampling), by the
transformer decoders' ``MultiheadAttention`` (``F.scaled_dot_product_attention`` vs. explicit
``softmax(q k^T + mask) v``) and by the inference shortcuts that skip exact no-ops. Both paths
compute the same function; the reference exists for equivalence tests and so that
``tools/benchmark.py --reference`` measures every speed-up against an identical model.

- set the environment variable ``MASK2FORMER_DISABLE_CUSTOM_OPS=1`` before importing
  mask2former to start in reference mode, or
- wrap code in ``with use_reference_ops(): ...`` (``use_reference_ops(False)`` forces the fast
  paths back on inside).
"""
import contextlib
import os
from typing import Iterator

_reference = os.environ.get("MASK2FORMER_DISABLE_CUSTOM_OPS", "0") == "1"


@contextlib.contextmanager
def use_reference_ops(enabled: bool = True) -> Iterator[None]:
    """Within this context the reference implementations are used (or, with
    ``enabled=False``, the fast ones wherever they can run)."""
    global _reference
    previous, _reference = _reference, enabled
    try:
        yield
    finally:
        _reference = previous


def reference_ops_enabled() -> bool:
    """Whether the reference implementations are selected right now."""
    return _reference
