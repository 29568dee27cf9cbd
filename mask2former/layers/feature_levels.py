"""The backbone feature levels a head uses: those named in ``MODEL.SEM_SEG_HEAD.IN_FEATURES``,
ordered finest (smallest stride) first."""

from typing import Dict, List, Tuple

from detectron2.layers import ShapeSpec


def head_input_shape(cfg, input_shape: Dict[str, ShapeSpec]) -> Dict[str, ShapeSpec]:
    """The backbone features of ``input_shape`` listed in ``MODEL.SEM_SEG_HEAD.IN_FEATURES``."""
    names = cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES
    return {k: v for k, v in input_shape.items() if k in names}


def by_stride(input_shape: Dict[str, ShapeSpec]) -> List[Tuple[str, ShapeSpec]]:
    """(name, shape) of every feature, finest (e.g. "res2") first."""
    return sorted(input_shape.items(), key=lambda kv: kv[1].stride)
