"""Checkpoint loading (replaced by the backbones issue with .safetensors support)."""
from detectron2.checkpoint import DetectionCheckpointer


class MaskFormerCheckpointer(DetectionCheckpointer):
    """Detectron2's checkpointer; every entry point of this project loads weights through it."""
