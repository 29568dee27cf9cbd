"""Around the network at inference, shared by the model, ``MaskFormerPredictor`` and the
exported runtime (``mask2former.export``):

- :mod:`.spec`: the inference settings (``InferenceSpec``), which the model holds;
- :mod:`.preprocessing`: an image to the network's input (test-time resize, normalization,
  padding);
- :mod:`.outputs`: the network's outputs to Detectron2's results (upsampling, cropping,
  resizing; semantic scores from the low-resolution logits by a compiled kernel), through
- :mod:`.tasks`: semantic, panoptic and instance inference of one image;
- :mod:`.sliding`: semantic inference of a large image window by window.
"""

from .outputs import (
    crop_and_resize,
    postprocess,
    postprocess_image,
    semantic_kernel_runs,
    semantic_scores,
    upsample_masks,
)
from .preprocessing import inference_resize, network_input, pixel_statistics, resized_image
from .sliding import sliding_window_scores, sliding_window_semantic, window_boxes
from .spec import InferenceOptionError, InferenceSpec, panoptic_within_mask, thing_ids_of
from .tasks import (
    encode_rle,
    instance_inference,
    panoptic_inference,
    semantic_inference,
    top_class_pairs,
)

__all__ = [
    "InferenceOptionError",
    "InferenceSpec",
    "crop_and_resize",
    "encode_rle",
    "inference_resize",
    "instance_inference",
    "network_input",
    "panoptic_inference",
    "panoptic_within_mask",
    "pixel_statistics",
    "postprocess",
    "postprocess_image",
    "resized_image",
    "semantic_inference",
    "semantic_kernel_runs",
    "semantic_scores",
    "sliding_window_scores",
    "sliding_window_semantic",
    "thing_ids_of",
    "top_class_pairs",
    "upsample_masks",
    "window_boxes",
]
