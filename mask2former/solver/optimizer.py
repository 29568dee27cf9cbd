"""Optimizer of MaskFormer / Mask2Former training: the optimizers of SOLVER.OPTIMIZER
(:data:`OPTIMIZER_REGISTRY`), per-parameter learning rate and weight decay, optional gradient
clipping over the whole model."""

import itertools
from typing import Any, Dict, List, Tuple, Type

import torch
from detectron2.config import CfgNode
from detectron2.solver.build import maybe_add_gradient_clipping, reduce_param_groups
from detectron2.utils.registry import Registry

from .._private_api import let_grad_scaler_unscale_first
from ..errors import UserError

# Parameters of these modules get SOLVER.WEIGHT_DECAY_NORM.
NORM_MODULE_TYPES = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,  # also Detectron2's NaiveSyncBatchNorm
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
    torch.nn.InstanceNorm1d,
    torch.nn.InstanceNorm2d,
    torch.nn.InstanceNorm3d,
    torch.nn.GroupNorm,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)
# Swin's position tables are parameters, not Embedding modules; the published code never decays them.
NO_DECAY_PARAM_NAMES = ("relative_position_bias_table", "absolute_pos_embed")

OPTIMIZER_REGISTRY = Registry("OPTIMIZER")
OPTIMIZER_REGISTRY.__doc__ = """
Optimizers selectable by SOLVER.OPTIMIZER, whose value names one of them ignoring case ("ADAMW"
selects ``adamw``). An entry is called as ``fn(cfg, param_groups)`` and returns the optimizer
class and the keyword arguments of its constructor besides the parameter groups and ``lr``;
:func:`build_optimizer` adds the gradient clipping of SOLVER.CLIP_GRADIENTS to that class.
"""

OptimizerChoice = Tuple[Type[torch.optim.Optimizer], Dict[str, Any]]


@OPTIMIZER_REGISTRY.register()
def sgd(cfg: CfgNode, param_groups: List[Dict[str, Any]]) -> OptimizerChoice:
    """SOLVER.OPTIMIZER "SGD", with SOLVER.MOMENTUM and SOLVER.NESTEROV."""
    return torch.optim.SGD, {"momentum": cfg.SOLVER.MOMENTUM, "nesterov": cfg.SOLVER.NESTEROV}


@OPTIMIZER_REGISTRY.register()
def adamw(cfg: CfgNode, param_groups: List[Dict[str, Any]]) -> OptimizerChoice:
    """SOLVER.OPTIMIZER "ADAMW", fused into one kernel per step where every parameter allows
    it (equal to the for-loop implementation up to float rounding, several times faster)."""
    return torch.optim.AdamW, {"fused": _fusable(param_groups)}


class UnknownOptimizerError(UserError, ValueError):
    """SOLVER.OPTIMIZER names no optimizer of :data:`OPTIMIZER_REGISTRY`."""


def _registered_optimizer(value: str):
    """The entry of :data:`OPTIMIZER_REGISTRY` that SOLVER.OPTIMIZER ``value`` names."""
    for name, choose in OPTIMIZER_REGISTRY:
        if name.lower() == value.lower():
            return choose
    raise UnknownOptimizerError(
        f"SOLVER.OPTIMIZER: unknown optimizer {value!r}; expected one of "
        f"{sorted(name.upper() for name, _ in OPTIMIZER_REGISTRY)}"
    )


def get_param_groups(cfg: CfgNode, model: torch.nn.Module) -> List[Dict[str, Any]]:
    """Split the trainable parameters of ``model`` into optimizer parameter groups.

    - learning rate: SOLVER.BASE_LR, times SOLVER.BACKBONE_MULTIPLIER for parameters of any
      module whose name contains "backbone";
    - weight decay: SOLVER.WEIGHT_DECAY, except SOLVER.WEIGHT_DECAY_NORM for normalization
      layers, SOLVER.WEIGHT_DECAY_EMBED for ``nn.Embedding`` (e.g. the query embeddings), and
      0 for Swin's relative position bias tables and absolute position embeddings.

    Parameters shared between modules are listed once. Groups with equal hyper-parameters are
    merged (fewer groups make the multi-tensor optimizers faster); each group keeps the names
    of its parameters under "param_names".
    """
    base_lr = cfg.SOLVER.BASE_LR
    per_param: List[Dict[str, Any]] = []
    seen = set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or param in seen:
                continue
            seen.add(param)
            lr = base_lr * (cfg.SOLVER.BACKBONE_MULTIPLIER if "backbone" in module_name else 1.0)
            weight_decay = cfg.SOLVER.WEIGHT_DECAY
            if param_name in NO_DECAY_PARAM_NAMES:
                weight_decay = 0.0
            if isinstance(module, NORM_MODULE_TYPES):
                weight_decay = cfg.SOLVER.WEIGHT_DECAY_NORM
            if isinstance(module, torch.nn.Embedding):
                weight_decay = cfg.SOLVER.WEIGHT_DECAY_EMBED
            full_name = f"{module_name}.{param_name}" if module_name else param_name
            per_param.append(
                {
                    "params": [param],
                    "param_names": [full_name],
                    "lr": lr,
                    "weight_decay": weight_decay,
                }
            )
    return reduce_param_groups(per_param)


def _with_full_model_gradient_clipping(
    optimizer_type: Type[torch.optim.Optimizer], max_norm: float
) -> Type[torch.optim.Optimizer]:
    """A subclass of ``optimizer_type`` whose ``step`` first clips the gradient norm of all its
    parameters taken together (one norm over the whole model) to ``max_norm``."""

    def step(self, closure=None):
        params = itertools.chain.from_iterable(group["params"] for group in self.param_groups)
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return optimizer_type.step(self, closure)

    return type(
        optimizer_type.__name__ + "FullModelGradientClip", (optimizer_type,), {"step": step}
    )


def build_optimizer(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer of :data:`OPTIMIZER_REGISTRY` named by SOLVER.OPTIMIZER ("ADAMW" or
    "SGD", any case) over :func:`get_param_groups`.

    SOLVER.CLIP_GRADIENTS with CLIP_TYPE "full_model" clips the norm of the whole model's
    gradient to CLIP_VALUE; the types "value" and "norm" clip each parameter (Detectron2's own).
    """
    choose = _registered_optimizer(cfg.SOLVER.OPTIMIZER)
    groups = get_param_groups(cfg, model)
    base_type, kwargs = choose(cfg, groups)
    clip = cfg.SOLVER.CLIP_GRADIENTS
    optimizer_type = base_type
    if clip.ENABLED and clip.CLIP_TYPE == "full_model":
        if clip.CLIP_VALUE > 0:
            optimizer_type = _with_full_model_gradient_clipping(base_type, clip.CLIP_VALUE)
    else:
        optimizer_type = maybe_add_gradient_clipping(cfg, base_type)

    optimizer = optimizer_type(groups, lr=cfg.SOLVER.BASE_LR, **kwargs)
    if optimizer_type is not base_type:  # its step clips the gradients, then steps
        let_grad_scaler_unscale_first(optimizer)
    return optimizer


def _fusable(groups) -> bool:
    """Whether every parameter suits PyTorch's fused AdamW (floating point, on CPU or CUDA)."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )
