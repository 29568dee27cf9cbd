"""Exporting the network of a MaskFormer / Mask2Former model with torch.export, and from the
exported program to ONNX.

The exported network maps normalized, zero-padded images (N, 3, H, W) float32 to
``pred_logits`` (N, Q, K+1) and ``pred_masks`` (N, Q, H/4, W/4). Pre- and post-processing stay
outside (``mask2former.export.runtime``), configured by the model's ``InferenceSpec`` stored in
the exported file (with ``fixed_input_size`` set for a fixed-size export).

Multi-scale deformable attention is exported as the compiled operator
``mask2former::ms_deform_attn`` (its fake kernel lets torch.export trace it with symbolic
sizes); the ONNX exporter expands it into standard operators (``ms_deform_attn_onnx``).
Masked attention is ``F.scaled_dot_product_attention`` with a boolean mask, which both
exporters handle.
"""

from typing import Optional, Tuple

import torch
from torch import nn
from torch.export import Dim, ExportedProgram

from ..layers import compiled_op_available, use_reference_ops
from ..layers._ops import BUILD_HINT
from ..modeling.postprocessing import InferenceSpec
from .file_format import INPUT_NAME, OUTPUT_NAMES, SPEC_KEY
from .ms_deform_attn_onnx import onnx_translation_table

# Largest dynamic input side, in multiples of the size divisibility.
_MAX_BLOCKS = 512


class ExportableMaskFormer(nn.Module):
    """The backbone and head of a ``MaskFormer`` model (state_dict names ``backbone.*``,
    ``sem_seg_head.*`` as in the model) as a function of one image tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.sem_seg_head = model.sem_seg_head

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            images: (N, 3, H, W) float32, normalized with the model's pixel mean and std and
                zero-padded to a multiple of its size divisibility.
        Returns:
            pred_logits: (N, Q, K+1) class logits (the last class is "no object");
            pred_masks: (N, Q, H/4, W/4) mask logits.
        """
        outputs = self.sem_seg_head(self.backbone(images))
        return outputs["pred_logits"], outputs["pred_masks"]


def input_step(spec: InferenceSpec) -> int:
    """Dynamic input sizes are multiples of this: the size divisibility, or the backbone
    stride 32 for models that do not pad."""
    return spec.size_divisibility if spec.size_divisibility > 1 else 32


def export_program(
    model: nn.Module, spec: InferenceSpec, example_size: Tuple[int, int], dynamic: bool
) -> ExportedProgram:
    """torch.export of ``ExportableMaskFormer(model)`` (an eval-mode ``MaskFormer``).

    Args:
        example_size: (H, W) of the example input (the input size when not ``dynamic``).
        dynamic: batch size, height and width symbolic (height and width multiples of
            ``input_step(spec)``); otherwise all fixed to a batch of one ``example_size`` image.
    """
    device = next(model.parameters()).device
    if not compiled_op_available(device):
        raise RuntimeError(
            "export needs the compiled deformable-attention operator mask2former._C for "
            f"{device.type} tensors (the pure-PyTorch fallback reads level sizes back from a "
            f"tensor, which torch.export cannot trace); {BUILD_HINT}"
        )
    if model.training:
        raise ValueError("export_program: call model.eval() first (export is for inference)")
    step = input_step(spec)
    h, w = example_size
    if dynamic and (h % step or w % step):
        raise ValueError(f"the example size {h}x{w} must be a multiple of {step} for --dynamic")
    # a batch of 2 so that the batch dimension is not specialized to 1
    images = torch.randn(2 if dynamic else 1, 3, h, w, device=device)
    dynamic_shapes = None
    if dynamic:
        dynamic_shapes = {
            INPUT_NAME: {
                0: Dim("batch", min=1, max=1024),
                2: step * Dim("height_blocks", min=1, max=_MAX_BLOCKS),
                3: step * Dim("width_blocks", min=1, max=_MAX_BLOCKS),
            }
        }
    # the fast paths are the exportable ones: compiled op, scaled_dot_product_attention
    with use_reference_ops(False), torch.no_grad():
        return torch.export.export(
            ExportableMaskFormer(model).eval(), (images,), dynamic_shapes=dynamic_shapes
        )


def save_program(program: ExportedProgram, spec: InferenceSpec, path: str) -> None:
    """Saves a .pt2 archive with the spec; load it with ``mask2former.export.load_exported``
    (``import mask2former`` registers the operators it calls)."""
    torch.export.save(program, path, extra_files={SPEC_KEY: spec.to_json()})


def save_onnx(
    program: ExportedProgram, spec: InferenceSpec, path: str, opset_version: Optional[int] = None
) -> None:
    """Converts an exported program to ONNX (standard operators only) and saves it, weights
    included (external data only past ONNX's 2 GB limit), with the spec in metadata_props."""
    onnx_program = torch.onnx.export(
        program,
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        custom_translation_table=onnx_translation_table(),
        opset_version=opset_version,
        verbose=False,
    )
    onnx_program.model.metadata_props[SPEC_KEY] = spec.to_json()
    onnx_program.save(path, external_data=None)
