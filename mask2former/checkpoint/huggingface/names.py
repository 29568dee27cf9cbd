"""Tensor names of transformers checkpoints.

transformers writes Mask2Former / MaskFormer checkpoints with the module names its 4.x releases
used, and that is how the Hugging Face Hub holds them; transformers 5 renamed some modules in
memory and translates the names on load and save. A ``model.state_dict()`` saved directly (not
through ``save_pretrained``) has the in-memory names: :func:`file_names` translates them to the
file layout, the one the tensor plans of this package use.
"""

import re
from typing import Dict, List, Tuple

import torch

__all__ = ["file_names"]

_SWIN_BLOCK = r"(\.blocks\.\d+)"
_DETR_LAYER = r"(transformer_module\.decoder\.layers\.\d+)"
# (in-memory pattern, file name) pairs of transformers 5
_RENAMES: List[Tuple[re.Pattern, str]] = [
    (re.compile(p), r)
    for p, r in [
        # Swin as Mask2Former's backbone (SwinBackbone) keeps its encoder under "swin."
        (r"^(model\.pixel_level_module\.encoder\.)swin\.(embeddings|encoder)\.", r"\1\2."),
        (_SWIN_BLOCK + r"\.attention\.q_proj\.", r"\1.attention.self.query."),
        (_SWIN_BLOCK + r"\.attention\.k_proj\.", r"\1.attention.self.key."),
        (_SWIN_BLOCK + r"\.attention\.v_proj\.", r"\1.attention.self.value."),
        (_SWIN_BLOCK + r"\.attention\.o_proj\.", r"\1.attention.output.dense."),
        (
            _SWIN_BLOCK + r"\.attention\.relative_position_bias\.relative_position_bias_table$",
            r"\1.attention.self.relative_position_bias_table",
        ),
        (_SWIN_BLOCK + r"\.mlp\.fc1\.", r"\1.intermediate.dense."),
        (_SWIN_BLOCK + r"\.mlp\.fc2\.", r"\1.output.dense."),
        # MaskFormer's DETR decoder
        (_DETR_LAYER + r"\.(self_attn|encoder_attn)\.o_proj\.", r"\1.\2.out_proj."),
        (_DETR_LAYER + r"\.mlp\.(fc[12])\.", r"\1.\2."),
    ]
]


def file_names(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state_dict`` with transformers 5's in-memory names replaced by the file names (names
    already in the file layout are unchanged)."""
    renamed = {}
    for name, tensor in state_dict.items():
        for pattern, replacement in _RENAMES:
            name = pattern.sub(replacement, name)
        renamed[name] = tensor
    return renamed
