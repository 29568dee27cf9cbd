"""Test-time augmentation for semantic segmentation: multi-scale and horizontal flip."""

import torch
from detectron2.modeling import DatasetMapperTTA
from fvcore.transforms import HFlipTransform
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class SemanticSegmentorWithTTA(nn.Module):
    """Wraps a model that returns ``{"sem_seg": (K, H, W)}`` at the input's "height" x "width".

    Each image is resized to every short side of TEST.AUG.MIN_SIZES (long side at most
    TEST.AUG.MAX_SIZE), and also flipped horizontally when TEST.AUG.FLIP; the per-class scores
    of all copies, flipped back where needed, are averaged. Same call interface as the model.
    """

    def __init__(self, cfg, model: nn.Module, tta_mapper=None):
        super().__init__()
        if isinstance(model, DistributedDataParallel):
            model = model.module
        self.model = model
        self.tta_mapper = tta_mapper if tta_mapper is not None else DatasetMapperTTA(cfg)

    def forward(self, batched_inputs):
        """batched_inputs: list of dicts with "image" (3, h, w), "height", "width".
        Returns a list of ``{"sem_seg": (K, height, width)}``."""
        return [{"sem_seg": self._averaged_scores(x)} for x in batched_inputs]

    @torch.no_grad()
    def _averaged_scores(self, dataset_dict) -> torch.Tensor:
        total = None
        augmented = self.tta_mapper(dataset_dict)
        for aug_input in augmented:
            transforms = aug_input.pop("transforms")
            scores = self.model([aug_input])[0]["sem_seg"]
            if any(isinstance(t, HFlipTransform) for t in transforms.transforms):
                scores = scores.flip(dims=[2])
            total = scores if total is None else total + scores
        return total / len(augmented)
