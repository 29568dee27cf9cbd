"""Skip markers for tests of the compiled operators (mask2former._C)."""

import pytest
import torch

from mask2former.layers import compiled_op_available

needs_cpu_op = pytest.mark.skipif(
    not compiled_op_available("cpu"),
    reason="mask2former._C is not built (pip install --no-build-isolation -e .)",
)
_skip_without_cuda_op = pytest.mark.skipif(
    not (torch.cuda.is_available() and compiled_op_available("cuda")),
    reason="needs a CUDA device and mask2former._C built with CUDA",
)


def needs_cuda_op(test):
    """Skips ``test`` without a CUDA device and CUDA kernels, and marks it "cuda" (``pytest -m
    cuda`` selects the GPU tests)."""
    return pytest.mark.cuda(_skip_without_cuda_op(test))
