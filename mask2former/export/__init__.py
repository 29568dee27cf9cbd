"""Export of the network to ONNX and torch.export programs, and running the exported files
with the model's pre- and post-processing (see docs/export.md)."""

from ..modeling.postprocessing import InferenceSpec, postprocess
from .exporter import ExportableMaskFormer, export_program, input_step, save_onnx, save_program
from .file_format import INPUT_NAME, OUTPUT_NAMES, SPEC_KEY
from .ms_deform_attn_onnx import ms_deform_attn_onnx, onnx_translation_table
from .runtime import ExportedPredictor, preprocess
