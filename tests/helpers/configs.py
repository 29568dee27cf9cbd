"""Configs of the tests: loading a config file, and the tiny models of tests/configs/, which
are the one source of the tiny configs (the Python helpers below load them)."""

from typing import Sequence

from detectron2.config import CfgNode, get_cfg

from helpers.paths import TINY_CONFIGS
from mask2former import add_maskformer2_config


def load_cfg(path, opts: Sequence[str] = ()) -> CfgNode:
    """The config of the YAML file ``path`` with the project's keys, then ``opts`` (KEY VALUE
    pairs) merged in."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.merge_from_file(str(path))
    cfg.merge_from_list(list(opts))
    return cfg


def tiny_config_file(name: str) -> str:
    """tests/configs/tiny_<name>.yaml: ``base`` (Mask2Former, 5 classes), ``maskformer``, or
    ``base`` on a generated shapes dataset: ``semantic``, ``panoptic``, ``instance``."""
    return str(TINY_CONFIGS / f"tiny_{name}.yaml")


def make_tiny_cfg(
    decoder: str = "MultiScaleMaskedTransformerDecoder",
    pixel_decoder: str = "MSDeformAttnPixelDecoder",
    num_classes: int = 5,
) -> CfgNode:
    """tiny_base.yaml (a thin ResNet-18, a 32-channel head, 8 queries and 3 decoder layers, on
    64x64 inputs) with the chosen decoders: Mask2Former when ``decoder`` is
    MultiScaleMaskedTransformerDecoder, MaskFormer (tiny_maskformer.yaml: res5, 2 layers, the
    published MaskFormer losses) when StandardTransformerDecoder."""
    cfg = load_cfg(
        tiny_config_file("maskformer" if decoder == "StandardTransformerDecoder" else "base")
    )
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = decoder
    cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME = pixel_decoder
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = num_classes
    return cfg


def make_tiny_cfg_with_outputs(
    semantic: bool = True, instance: bool = False, panoptic: bool = False
) -> CfgNode:
    """make_tiny_cfg()'s Mask2Former computing the chosen outputs (MODEL.MASK_FORMER.TEST)."""
    cfg = make_tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = semantic
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = instance
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = panoptic
    return cfg


def tiny_semantic_cfg(weights: str = "") -> CfgNode:
    """tiny_semantic.yaml (the tiny Mask2Former on the shapes semantic dataset), its
    MODEL.WEIGHTS ``weights``."""
    cfg = load_cfg(tiny_config_file("semantic"))
    cfg.MODEL.WEIGHTS = weights
    return cfg


def dataset_num_classes(name: str) -> int:
    """The model's number of classes for the registered dataset ``name``: all its classes, or
    its thing classes for an instance-only dataset."""
    from detectron2.data import MetadataCatalog

    metadata = MetadataCatalog.get(name)
    return len(metadata.get("stuff_classes", None) or metadata.thing_classes)


def flatten(node: CfgNode, prefix: str = "") -> dict:
    """{"A.B.C": value} of every leaf of a config."""
    out = {}
    for key, value in node.items():
        if isinstance(value, CfgNode):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
