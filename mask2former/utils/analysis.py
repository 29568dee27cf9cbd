"""Parameter, FLOP and activation counts of a model with fvcore (``tools/analyze_model.py``).

fvcore traces the model and counts the operators it has handles for (one fused multiply-add =
one flop; elementwise operators are not counted, as in Detectron2's analysis). This module adds
handles for the operators of this model that fvcore does not know:

- ``mask2former::ms_deform_attn``, the compiled multi-scale deformable attention;
- ``aten::grid_sampler`` as the pure-PyTorch reference of that attention uses it (the path
  taken when the compiled op is not built, or in reference mode), so that both paths count the
  same;
- ``aten::scaled_dot_product_attention`` (the transformer decoders' attention), counted as the
  two matrix products of explicit attention.
"""

from collections import Counter
from typing import Any, Callable, Dict, Iterable, List

import numpy as np
from detectron2.export import TracingAdapter
from detectron2.utils.analysis import FlopCountAnalysis
from fvcore.nn import ActivationCountAnalysis
from fvcore.nn.jit_handles import generic_activation_jit, get_shape
from torch import nn

__all__ = [
    "ACTIVATION_HANDLES",
    "FLOP_HANDLES",
    "activation_count_analysis",
    "count_over_inputs",
    "flop_count_analysis",
    "ms_deform_attn_flop_jit",
    "ms_deform_attn_reference_flop_jit",
    "scaled_dot_product_attention_flop_jit",
]

# Bilinear sampling reads 4 neighbours: 4 multiply-adds per channel (fvcore's own count for
# grid_sample); the sample then enters the output weighted by its attention weight: 1 more.
BILINEAR_SAMPLE_FLOPS = 4
WEIGHTED_SUM_FLOPS = 1


def ms_deform_attn_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``mask2former::ms_deform_attn(value, spatial_shapes, level_start_index,
    sampling_locations, attention_weights)``, value (N, S, M, D), sampling_locations
    (N, Q, M, L, P, 2): per query, head, level and point, a bilinear sample of the D channels
    of that head (4 multiply-adds per channel) plus its weighted sum into the output (1 per
    channel)::

        N * Q * M * L * P * D * (4 + 1)
    """
    n, _, m, d = get_shape(inputs[0])
    _, q, _, num_levels, num_points, _ = get_shape(inputs[3])
    return n * q * m * num_levels * num_points * d * (BILINEAR_SAMPLE_FLOPS + WEIGHTED_SUM_FLOPS)


def ms_deform_attn_reference_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::grid_sampler`` in the reference deformable attention
    (``ms_deform_attn_reference``), which samples one level at a time: output (N*M, D, Q, P).
    Each sample is then multiplied by its attention weight and summed by elementwise operators
    that fvcore does not count, so this handle counts that multiply-add with the sample: the
    levels together give :func:`ms_deform_attn_flop_jit`'s count. (At inference this model
    calls grid_sample only there; training's point sampling is not analysed.)"""
    return int(np.prod(get_shape(outputs[0]))) * (BILINEAR_SAMPLE_FLOPS + WEIGHTED_SUM_FLOPS)


def scaled_dot_product_attention_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention(q, k, v, ...)``, q (..., Lq, E),
    k (..., Lk, E), v (..., Lk, Ev): ``q @ k^T`` and ``softmax(...) @ v`` as fvcore counts the
    two matmuls of explicit attention, ``batch * Lq * Lk * (E + Ev)``."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = int(np.prod(q[:-2]))
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


FLOP_HANDLES = {
    "mask2former::ms_deform_attn": ms_deform_attn_flop_jit,
    "aten::grid_sampler": ms_deform_attn_reference_flop_jit,
    "aten::scaled_dot_product_attention": scaled_dot_product_attention_flop_jit,
}
# activations: the output elements of the operators that compute with weights or attention
ACTIVATION_HANDLES = {
    "mask2former::ms_deform_attn": generic_activation_jit(),
    "aten::scaled_dot_product_attention": generic_activation_jit(),
}


def flop_count_analysis(model: nn.Module, inputs: List[Dict]) -> FlopCountAnalysis:
    """Detectron2's ``FlopCountAnalysis`` of ``model`` on ``inputs`` (a batch in Detectron2's
    input format) with this module's handles; ``.total()``, ``.by_operator()``, ...
    trace the model when first called."""
    return FlopCountAnalysis(model, inputs).set_op_handle(**FLOP_HANDLES)


def activation_count_analysis(model: nn.Module, inputs: List[Dict]) -> ActivationCountAnalysis:
    """fvcore's ``ActivationCountAnalysis`` of ``model`` on ``inputs``, traced like
    :func:`flop_count_analysis`."""
    wrapper = TracingAdapter(model, inputs, allow_non_tensor=True)
    analysis = ActivationCountAnalysis(wrapper, wrapper.flattened_inputs)
    return analysis.set_op_handle(**ACTIVATION_HANDLES)


def count_over_inputs(count: Callable, model: nn.Module, batches: Iterable[List[Dict]]) -> Dict:
    """Run ``count(model, batch)`` (:func:`flop_count_analysis` or
    :func:`activation_count_analysis`) on every batch.

    Returns:
        {"totals": per-batch totals, "mean": their mean, "std": their standard deviation,
        "by_operator": {operator: mean count}, "first": the analysis of the first batch}.
    """
    totals, by_operator, first = [], Counter(), None
    for batch in batches:
        analysis = count(model, batch)
        if first is None:
            first = analysis
        else:  # report unsupported operators once
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_operator += Counter(analysis.by_operator())
        totals.append(analysis.total())
    if not totals:
        raise ValueError("count_over_inputs: no inputs")
    return {
        "totals": totals,
        "mean": float(np.mean(totals)),
        "std": float(np.std(totals)),
        "by_operator": {op: value / len(totals) for op, value in by_operator.items()},
        "first": first,
    }
