"""Loads the compiled operators (``mask2former._C``) once and completes their registration.

The C++ library defines ``torch.ops.mask2former.ms_deform_attn`` and its backward op, and
``torch.ops.mask2former.semantic_scores`` (semantic inference fused with the resizing of the mask
logits, inference only), with CPU (and, when built with CUDA, CUDA) kernels. This module adds what torch.compile and torch.export
need: fake kernels that compute output shapes, and the autograd formula. When the library is
missing or cannot be loaded, one warning says how to build it and callers use the reference.
"""

import warnings
from typing import FrozenSet

import torch

BUILD_HINT = (
    "build it with `make setup`, or `pip install --no-build-isolation -e .` in the repository "
    "root (PyTorch must already be installed; a CUDA toolkit adds the CUDA kernels)"
)


def load_compiled_ops() -> FrozenSet[str]:
    """Loads the library and returns the device types ("cpu", "cuda") its operators support;
    an empty set (after a warning) when it is not available. Call once."""
    try:
        from mask2former import _C
    except (ImportError, OSError) as e:
        warnings.warn(
            f"mask2former._C (compiled deformable attention) could not be loaded ({e}); "
            f"falling back to the slower pure-PyTorch reference. To fix, {BUILD_HINT}.",
            stacklevel=2,
        )
        return frozenset()
    missing = [
        name
        for name in ("ms_deform_attn_backward", "semantic_scores")
        if not hasattr(torch.ops.mask2former, name)
    ]
    if missing:
        warnings.warn(
            f"mask2former._C at {_C.__file__} is stale (it lacks {', '.join(missing)}); "
            f"falling back to the slower pure-PyTorch reference. To fix, {BUILD_HINT}.",
            stacklevel=2,
        )
        return frozenset()
    _register_fake_kernels()
    _register_autograd()
    return frozenset({"cpu", "cuda"} if _C.WITH_CUDA else {"cpu"})


def _register_fake_kernels():
    @torch.library.register_fake("mask2former::ms_deform_attn")
    def _(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
        n, _, m, d = value.shape
        return value.new_empty((n, sampling_locations.shape[1], m * d))

    @torch.library.register_fake("mask2former::ms_deform_attn_backward")
    def _(
        grad_output, value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    ):
        return (
            torch.empty_like(value),
            torch.empty_like(sampling_locations),
            torch.empty_like(attention_weights),
        )

    @torch.library.register_fake("mask2former::semantic_scores")
    def _(mask_logits, class_prob, padded_size, image_size, output_size):
        return mask_logits.new_empty((class_prob.shape[1], *output_size))


def _register_autograd():
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward(ctx, grad_output):
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights = (
            ctx.saved_tensors
        )
        grad_value, grad_locations, grad_weights = torch.ops.mask2former.ms_deform_attn_backward(
            grad_output.contiguous(),
            value,
            spatial_shapes,
            level_start_index,
            sampling_locations,
            attention_weights,
        )
        return grad_value, None, None, grad_locations, grad_weights

    torch.library.register_autograd(
        "mask2former::ms_deform_attn", backward, setup_context=setup_context
    )
