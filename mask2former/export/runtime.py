"""Running an exported network the way ``MaskFormerPredictor`` (and so ``demo/demo.py``) runs
the model: the same pre-processing, the network in onnxruntime or as a torch.export program,
and the same post-processing, giving the model's output dict.

``preprocess`` and ``postprocess`` take and return plain arrays / the model's output types
and do not care which runtime produced the network outputs; ``ExportedPredictor`` ties them
to a file written by ``tools/export_model.py``.
"""
import os
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.nn import functional as F

import detectron2.data.transforms as T
from detectron2.modeling.postprocessing import sem_seg_postprocess

from ..modeling.postprocessing import instance_inference, panoptic_inference, semantic_inference
from .spec import INPUT_NAME, SPEC_KEY, InferenceSpec


def preprocess(image: np.ndarray, spec: InferenceSpec) -> Tuple[np.ndarray, Tuple[int, int]]:
    """
    Args:
        image: (H, W, 3) uint8 in BGR order, as read by cv2.
    Returns:
        images: (1, 3, H_pad, W_pad) float32, resized like the predictor's test-time resize,
            in ``spec.input_format`` order, normalized and zero-padded at the bottom/right.
        image_size: (h, w) of the resized image inside the padding.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"preprocess: expected an (H, W, 3) BGR image, got shape {image.shape}")
    if spec.input_format == "RGB":
        image = image[:, :, ::-1]
    resize = T.ResizeShortestEdge([spec.min_size_test, spec.min_size_test], spec.max_size_test)
    image = resize.get_transform(image).apply_image(image)
    h, w = image.shape[:2]
    mean = np.asarray(spec.pixel_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.pixel_std, dtype=np.float32)[:, None, None]
    normalized = (image.astype(np.float32).transpose(2, 0, 1) - mean) / std
    h_pad, w_pad = spec.padded_size((h, w))
    images = np.zeros((1, 3, h_pad, w_pad), dtype=np.float32)
    images[0, :, :h, :w] = normalized
    return images, (h, w)


def postprocess(
    pred_logits,
    pred_masks,
    spec: InferenceSpec,
    input_size: Tuple[int, int],
    image_sizes: Sequence[Tuple[int, int]],
    output_sizes: Sequence[Tuple[int, int]],
) -> List[Dict]:
    """The model's inference outputs from the network outputs (numpy arrays or tensors).

    Args:
        pred_logits: (N, Q, K+1); pred_masks: (N, Q, h, w), for an input of ``input_size``
            (H_pad, W_pad).
        image_sizes: per image, (h, w) of the resized image inside the padding.
        output_sizes: per image, (height, width) of the outputs (the original image size).
    Returns:
        per image a dict with, as ``spec`` enables, "sem_seg", "panoptic_seg", "instances",
        as ``MaskFormer`` returns them.
    """
    mask_cls_results = torch.as_tensor(pred_logits)
    mask_pred_results = F.interpolate(
        torch.as_tensor(pred_masks), size=tuple(input_size), mode="bilinear", align_corners=False
    )
    return [
        postprocess_single(mask_cls, mask_pred, spec, image_size, output_size)
        for mask_cls, mask_pred, image_size, output_size in zip(
            mask_cls_results, mask_pred_results, image_sizes, output_sizes
        )
    ]


def postprocess_single(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    spec: InferenceSpec,
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
) -> Dict:
    """One image: mask_cls (Q, K+1), mask_pred (Q, H_pad, W_pad) logits; the same steps as
    ``MaskFormer.inference_single``."""
    height, width = output_size
    result = {}
    before = spec.sem_seg_postprocess_before_inference
    if before:
        mask_pred = sem_seg_postprocess(mask_pred, image_size, height, width)
        mask_cls = mask_cls.to(mask_pred)
    if spec.semantic_on:
        sem_seg = semantic_inference(mask_cls, mask_pred)
        if not before:
            sem_seg = sem_seg_postprocess(sem_seg, image_size, height, width)
        result["sem_seg"] = sem_seg
    if spec.panoptic_on:
        if spec.thing_ids is None:
            raise ValueError(
                "panoptic post-processing needs thing_ids, which the exported spec lacks (the "
                "config's dataset metadata had no thing_dataset_id_to_contiguous_id)"
            )
        result["panoptic_seg"] = panoptic_inference(
            mask_cls,
            mask_pred,
            num_classes=spec.num_classes,
            object_mask_threshold=spec.object_mask_threshold,
            overlap_threshold=spec.overlap_threshold,
            thing_ids=spec.thing_ids,
            within_mask=spec.panoptic_within_mask,
        )
    if spec.instance_on:
        result["instances"] = instance_inference(
            mask_cls,
            mask_pred,
            image_size=(height, width),
            num_classes=spec.num_classes,
            topk=spec.test_topk_per_image,
            thing_ids=spec.thing_ids if spec.panoptic_on else None,
        )
    return result


def _onnx_network(path: str) -> Tuple[Callable, InferenceSpec]:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    if SPEC_KEY not in metadata:
        raise ValueError(f"{path}: no {SPEC_KEY} in the ONNX metadata; export it with tools/export_model.py")

    def run(images: np.ndarray):
        return session.run(None, {INPUT_NAME: images})

    return run, InferenceSpec.from_json(metadata[SPEC_KEY], path)


def _program_network(path: str) -> Tuple[Callable, InferenceSpec]:
    extra_files = {SPEC_KEY: ""}
    program = torch.export.load(path, extra_files=extra_files)
    if not extra_files[SPEC_KEY]:
        raise ValueError(f"{path}: no {SPEC_KEY} in the archive; export it with tools/export_model.py")
    module = program.module()

    def run(images: np.ndarray):
        with torch.no_grad():
            return module(torch.from_numpy(images))

    return run, InferenceSpec.from_json(extra_files[SPEC_KEY], path)


class ExportedPredictor:
    """``MaskFormerPredictor`` for a file of ``tools/export_model.py``: a ``.onnx`` model run
    by onnxruntime (CPU) or a ``.pt2`` exported program.

    ``predictor(image)`` takes an (H, W, 3) uint8 BGR image and returns the model's output
    dict for it ("sem_seg", "panoptic_seg", "instances" as enabled at export)."""

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
