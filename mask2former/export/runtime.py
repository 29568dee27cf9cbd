"""Running an exported network the way ``MaskFormerPredictor`` (and so ``demo/demo.py``) runs
the model: the same pre-processing, the network in onnxruntime or as a torch.export program,
and the same post-processing (``mask2former.modeling.postprocessing``, the model's own), giving
the model's output dict.

``preprocess`` and ``postprocess`` take and return plain arrays / the model's output types
and do not care which runtime produced the network outputs; ``ExportedPredictor`` ties them
to a file written by ``tools/export_model.py``.
"""

import os
from typing import Callable, Dict, Tuple

import numpy as np
import torch

from ..modeling.postprocessing import (
    InferenceSpec,
    inference_resize,
    network_input,
    pixel_statistics,
    postprocess,
    resized_image,
    sliding_window_semantic,
)
from .file_format import INPUT_NAME, SPEC_KEY


def preprocess(image: np.ndarray, spec: InferenceSpec) -> Tuple[np.ndarray, Tuple[int, int]]:
    """The network input of one image, as ``MaskFormerPredictor`` (Detectron2's
    ``DefaultPredictor``) and the model make it.

    Args:
        image: (H, W, 3) uint8 in BGR order, as read by cv2.
    Returns:
        images: (1, 3, H_pad, W_pad) float32, resized by the test-time resize, in
            ``spec.input_format`` order, normalized and zero-padded at the bottom/right.
        image_size: (h, w) of the resized image inside the padding.
    """
    batch = network_input([_resized(image, spec)], *pixel_statistics(spec), spec)
    return batch.tensor.numpy(), batch.image_sizes[0]


def _resized(image: np.ndarray, spec: InferenceSpec) -> torch.Tensor:
    return resized_image(
        image, spec.input_format, inference_resize(spec.min_size_test, spec.max_size_test)
    )


def _onnx_network(path: str) -> Tuple[Callable, InferenceSpec]:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    if SPEC_KEY not in metadata:
        raise ValueError(
            f"{path}: no {SPEC_KEY} in the ONNX metadata; export it with tools/export_model.py"
        )

    def run(images: np.ndarray):
        return session.run(None, {INPUT_NAME: images})

    return run, InferenceSpec.from_json(metadata[SPEC_KEY], path)


def _program_network(path: str) -> Tuple[Callable, InferenceSpec]:
    extra_files = {SPEC_KEY: ""}
    program = torch.export.load(path, extra_files=extra_files)
    if not extra_files[SPEC_KEY]:
        raise ValueError(
            f"{path}: no {SPEC_KEY} in the archive; export it with tools/export_model.py"
        )
    module = program.module()

    def run(images: np.ndarray):
        with torch.no_grad():
            return module(torch.from_numpy(images))

    return run, InferenceSpec.from_json(extra_files[SPEC_KEY], path)


class ExportedPredictor:
    """``MaskFormerPredictor`` for a file of ``tools/export_model.py``: a ``.onnx`` model run
    by onnxruntime (CPU) or a ``.pt2`` exported program.

    ``predictor(image)`` takes an (H, W, 3) uint8 BGR image and returns the model's output
    dict for it ("sem_seg", "panoptic_seg", "instances" as enabled at export), window by window
    when the model was exported with sliding-window inference."""

    def __init__(self, path: str):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"exported model not found: {path}")
        if path.endswith(".onnx"):
            self.network, self.spec = _onnx_network(path)
        elif path.endswith(".pt2"):
            self.network, self.spec = _program_network(path)
        else:
            raise ValueError(f"{path}: expected a .onnx or .pt2 file from tools/export_model.py")

    def __call__(self, image: np.ndarray) -> Dict:
        if self.spec.sliding_window_size is not None:
            return sliding_window_semantic(
                _resized(image, self.spec), self.spec, self._window_scores, image.shape[:2]
            )
        images, image_size = preprocess(image, self.spec)
        pred_logits, pred_masks = self.network(images)
        return postprocess(
            pred_logits,
            pred_masks,
            self.spec,
            images.shape[-2:],
            [image_size],
            [image.shape[:2]],
        )[0]

    def _window_scores(self, crop: torch.Tensor) -> torch.Tensor:
        """(K, h, w) semantic scores of a (3, h, w) crop of the resized image."""
        batch = network_input([crop], *pixel_statistics(self.spec), self.spec)
        pred_logits, pred_masks = self.network(batch.tensor.numpy())
        return postprocess(
            pred_logits,
            pred_masks,
            self.spec,
            batch.tensor.shape[-2:],
            batch.image_sizes,
            batch.image_sizes,
        )[0]["sem_seg"]
