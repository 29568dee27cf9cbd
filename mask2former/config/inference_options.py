"""Config keys of this project's inference options, which the published releases do not have
(docs/inference.md). Their defaults give the published results.

``add_maskformer2_config`` adds exactly the published keys; the entry points'
configs (``mask2former.cli.load_config``, ``mask2former.model_zoo.get_config``) have these too
(:func:`add_inference_options_config`). A config without them (built the published way)
infers with the defaults.
"""

from detectron2.config import CfgNode as CN

__all__ = ["add_inference_options_config"]


def add_inference_options_config(cfg: CN) -> None:
    """Add the MODEL.MASK_FORMER.TEST keys of the inference options, in place, to a config with
    ``add_maskformer2_config``'s keys; keys already there keep their values."""
    test = cfg.MODEL.MASK_FORMER.TEST
    if "MASK_THRESHOLD" in test:
        return
    # mask probability from which a pixel is in a query's mask (panoptic: >=, instance: >)
    test.MASK_THRESHOLD = 0.5
    # classes whose queries panoptic inference fuses into one segment per class: "stuff",
    # "thing" and contiguous class ids, in any combination ([]: none)
    test.PANOPTIC_FUSE_CLASSES = ["stuff"]
    # a "score" (its query's class probability) in each panoptic segments_info entry
    test.PANOPTIC_SEGMENT_SCORES = False
    # "bitmask": instances.pred_masks (R, H, W) bool; "rle": instances.pred_masks_rle
    # (pycocotools RLE dicts) instead
    test.INSTANCE_MASK_FORMAT = "bitmask"
    # semantic inference window by window over the resized image, averaging the scores of
    # overlapping windows (semantic-only configs)
    test.SLIDING_WINDOW = CN()
    test.SLIDING_WINDOW.ENABLED = False
    test.SLIDING_WINDOW.SIZE = [512, 512]  # (height, width) in pixels
    test.SLIDING_WINDOW.STRIDE = [341, 341]  # (height, width) in pixels
