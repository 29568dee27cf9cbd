"""Names in an exported file: the network's input and outputs, and the key under which the
model's ``InferenceSpec`` is stored as JSON (in the ONNX model's metadata_props and in the .pt2
archive's extra files)."""

SPEC_KEY = "mask2former_inference_spec"
INPUT_NAME = "images"
OUTPUT_NAMES = ("pred_logits", "pred_masks")
