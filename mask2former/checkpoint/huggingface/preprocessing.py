"""transformers' image processor settings (``preprocessor_config.json``) against the input
keys of a config: normalization and test-time resizing.

transformers' MaskFormer / Mask2Former image processors rescale pixels by ``rescale_factor``
(1/255), normalize with ``image_mean`` / ``image_std`` and resize the shorter side to
``size["shortest_edge"]`` capped at ``size["longest_edge"]``, rounding the result to multiples of
``size_divisor``; this project normalizes 0-255 RGB pixels with MODEL.PIXEL_MEAN / PIXEL_STD,
resizes with INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST and pads (not resizes) to multiples of
MODEL.MASK_FORMER.SIZE_DIVISIBILITY. The sizes of the resized images can therefore differ by a
few pixels between the two.
"""

from typing import Dict, List, Optional

from .errors import ConversionError

__all__ = ["input_to_cfg", "image_processor_config"]

_PROCESSORS = {
    "mask2former": "Mask2FormerImageProcessor",
    "maskformer": "MaskFormerImageProcessor",
}


def _rgb(value, key: str, source: str) -> List[float]:
    values = [value] * 3 if isinstance(value, (int, float)) else list(value)
    if len(values) != 3:
        raise ConversionError(f"{source}: {key} = {value!r}; expected three values (RGB)")
    return [float(v) for v in values]


def input_to_cfg(processor: Optional[Dict], cfg, source: str, architecture: str) -> List[str]:
    """Sets MODEL.PIXEL_MEAN / PIXEL_STD, INPUT.FORMAT and the test sizes from an image
    processor config (None: transformers' defaults, which are the ImageNet statistics and
    800 / 1333), and for MaskFormer, whose config.json has no ignore value, the
    SEM_SEG_HEAD.IGNORE_VALUE from its ``ignore_index``; returns notes on settings that do not
    carry over."""
    processor = processor or {}
    if architecture == "maskformer" and processor.get("ignore_index") is not None:
        cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = int(processor["ignore_index"])
    scale = 1.0
    if processor.get("do_rescale", True):
        scale = float(processor.get("rescale_factor", 1 / 255))
    mean, std = [0.0] * 3, [1.0] * 3
    if processor.get("do_normalize", True):
        mean = _rgb(processor.get("image_mean", [0.485, 0.456, 0.406]), "image_mean", source)
        std = _rgb(processor.get("image_std", [0.229, 0.224, 0.225]), "image_std", source)
    cfg.INPUT.FORMAT = "RGB"
    # rounded to 6 decimals: 0.485 / (1 / 255) is 123.67499999999998 in floating point
    cfg.MODEL.PIXEL_MEAN = [round(m / scale, 6) for m in mean]
    cfg.MODEL.PIXEL_STD = [round(s / scale, 6) for s in std]

    notes = []
    size = processor.get("size", {"shortest_edge": 800, "longest_edge": 1333})
    if isinstance(size, int):
        size = {"shortest_edge": size, "longest_edge": processor.get("max_size", 1333)}
    if processor.get("do_resize", True) and "shortest_edge" in size:
        cfg.INPUT.MIN_SIZE_TEST = int(size["shortest_edge"])
        cfg.INPUT.MAX_SIZE_TEST = int(size.get("longest_edge") or processor.get("max_size", 1333))
    elif processor.get("do_resize", True):
        notes.append(
            f"{source}: size = {size} resizes to a fixed shape; INPUT.MIN_SIZE_TEST / "
            "MAX_SIZE_TEST keep their values (this project resizes the shorter side)"
        )
    if processor.get("do_reduce_labels") or processor.get("reduce_labels"):
        notes.append(
            f"{source}: do_reduce_labels = true (labels shifted by one while training, the "
            "ADE20K convention); this project's ADE20K loaders shift them themselves"
        )
    return notes


def image_processor_config(cfg, architecture: str) -> Dict:
    """The ``preprocessor_config.json`` dict matching the config's input settings."""
    if cfg.INPUT.FORMAT != "RGB":
        raise ConversionError(
            f"INPUT.FORMAT {cfg.INPUT.FORMAT!r}: transformers' image processors feed RGB "
            "images; convert a model trained on RGB input"
        )
    return {
        "image_processor_type": _PROCESSORS[architecture],
        "do_resize": True,
        "size": {"shortest_edge": cfg.INPUT.MIN_SIZE_TEST, "longest_edge": cfg.INPUT.MAX_SIZE_TEST},
        "resample": 2,  # bilinear, as ResizeShortestEdge
        "size_divisor": 32,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [round(m / 255, 6) for m in cfg.MODEL.PIXEL_MEAN],
        "image_std": [round(s / 255, 6) for s in cfg.MODEL.PIXEL_STD],
        "ignore_index": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
        "do_reduce_labels": False,
        "num_labels": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
    }
