"""Around the network at inference, shared by the model, ``MaskFormerPredictor`` and the
exported runtime (``mask2former.export``):

- :mod:`.spec`: the inference settings (``InferenceSpec``), which the model holds;
- :mod:`.preprocessing`: an image to the network's input (test-time resize, normalization,
  padding);
- :mod:`.outputs`: the network's outputs to Detectron2's results (upsampling, cropping,
  resizing), through
- :mod:`.tasks`: semantic, panoptic and instance inference of one image.
"""
from .outputs import crop_and_resize, postprocess, postprocess_image, upsample_masks
from .preprocessing import inference_resize, network_input, pixel_statistics
from .spec import InferenceSpec, panoptic_within_mask, thing_ids_of
from .tasks import instance_inference, panoptic_inference, semantic_inference, top_class_pairs

__all__ = [
    "InferenceSpec",
    "crop_and_resize",
    "inference_resize",
    "instance_inference",
    "network_input",
    "panoptic_inference",
    "panoptic_within_mask",
    "pixel_statistics",
    "postprocess",
    "postprocess_image",
    "semantic_inference",
    "thing_ids_of",
    "top_class_pairs",
    "upsample_masks",
]
