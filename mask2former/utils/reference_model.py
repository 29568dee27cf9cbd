"""The model as the published code computes it, step by step: what the equivalence tests and
``tools/benchmark.py --reference`` compare the model with.

:func:`reference_model` turns a built model (or any of its parts) into its reference: a copy
that shares the model's parameters and buffers and computes the same function the published
way. Each difference is a mixin below, put in front of the class of every module it applies to
(subclasses included, e.g. the video decoder):

- ``PositionEmbeddingSine`` encodes every call instead of caching the encoding of each size;
- Swin's ``WindowAttention`` computes ``softmax((q * scale) k^T + bias)``, dropout and ``@ v``
  step by step instead of calling ``F.scaled_dot_product_attention``;
- ``MultiScaleMaskedTransformerDecoder`` resizes every full-resolution mask prediction to the
  level it attends to, instead of computing the attention masks from the mask features resized
  once per level;
- ``SetCriterion`` samples the points of its mask losses with Detectron2's
  ``get_uncertain_point_coords_with_randomness`` and ``point_sample`` (sorted top-k, points as
  [0, 1] coordinates) instead of unsorted top-k and ``grid_sample`` grids computed once;
- the model's forward runs with the reference kernels (``use_reference_ops``: pure-PyTorch
  deformable attention, explicit multi-head attention).
"""

import copy
import functools
import itertools
from typing import List, Sequence, Tuple

import torch
from detectron2.projects.point_rend.point_features import (
    get_uncertain_point_coords_with_randomness,
    point_sample,
)
from torch import nn
from torch.nn import functional as F

from ..layers.position_encoding import PositionEmbeddingSine
from ..layers.reference_mode import use_reference_ops
from ..modeling.backbone.window_attention import WindowAttention
from ..modeling.criterion import SetCriterion
from ..modeling.transformer_decoder.mask2former_transformer_decoder import (
    MultiScaleMaskedTransformerDecoder,
)

__all__ = ["reference_model"]


class EncodedEveryCall:
    """:class:`PositionEmbeddingSine` (and its 3-D subclass) without its cache."""

    cache_size = 0


class ExplicitWindowAttention:
    """:class:`WindowAttention` computed as the published Swin code does: scaled queries times
    keys plus bias, softmax, dropout, times values."""

    def _attend(self, q, k, v, bias, dropout: float) -> torch.Tensor:
        weights = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1)
        return F.dropout(weights, dropout) @ v


class FullResolutionAttentionMasks:
    """:class:`MultiScaleMaskedTransformerDecoder` resizing every full-resolution mask
    prediction to the level it attends to, as the published code does."""

    def _attention_mask_features(
        self, mask_features: torch.Tensor, sizes: Sequence[Tuple[int, int]]
    ) -> List[torch.Tensor]:
        return [mask_features] * len(sizes)


class PublishedLossPoints:
    """:class:`SetCriterion` sampling the points of each matched pair as the published code
    does, with Detectron2's PointRend functions."""

    def _point_samples(self, pred, tgt) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                pred,
                lambda logits: -logits.abs(),
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
            )
            tgt = point_sample(tgt, coords, align_corners=False)[:, 0]
        return point_sample(pred, coords, align_corners=False)[:, 0], tgt


class ReferenceKernels:
    """The forward of the module given to :func:`reference_model`, with the reference kernels
    (its parts called on their own use the kernels the switch selects)."""

    def forward(self, *args, **kwargs):
        with use_reference_ops():
            return super().forward(*args, **kwargs)


# (class, the mixin of its published formulation)
FORMULATIONS = (
    (PositionEmbeddingSine, EncodedEveryCall),
    (WindowAttention, ExplicitWindowAttention),
    (MultiScaleMaskedTransformerDecoder, FullResolutionAttentionMasks),
    (SetCriterion, PublishedLossPoints),
)


@functools.lru_cache(maxsize=None)
def _reference_class(cls: type, mixins: Tuple[type, ...]) -> type:
    return type(f"Reference{cls.__name__}", (*mixins, cls), {"__module__": __name__})


def _to_reference(module: nn.Module, root: bool) -> None:
    mixins = tuple(mixin for base, mixin in FORMULATIONS if isinstance(module, base))
    if root:
        mixins = (ReferenceKernels,) + mixins
    if mixins:
        module.__class__ = _reference_class(type(module), mixins)


def reference_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` computing the published formulations (listed in the module docstring),
    with the same parameters and buffers: the same tensors, so that training either trains
    both, and the same outputs up to floating-point rounding. Other attributes are copied,
    so make the reference of a model after moving it to its device and dtype.

    Returns:
        an instance of a subclass of ``type(model)``, in the same train / eval mode.
    """
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    reference = copy.deepcopy(model, memo=shared)
    for module in reference.modules():
        _to_reference(module, root=module is reference)
    return reference
