"""What an exported network needs around it to give the demo's results: the input
pre-processing and the post-processing settings, stored as JSON inside the exported file."""
import dataclasses
import json
from typing import Optional, Tuple

# Key of the JSON in the ONNX model's metadata_props and in the .pt2 archive's extra files.
SPEC_KEY = "mask2former_inference_spec"
# Names of the exported network's input and outputs.
INPUT_NAME = "images"
OUTPUT_NAMES = ("pred_logits", "pred_masks")


@dataclasses.dataclass(frozen=True)
class InferenceSpec:
    """
    Attributes:
        input_format: "RGB" or "BGR", the channel order the network expects.
        pixel_mean, pixel_std: per-channel normalization, in ``input_format`` order.
        min_size_test, max_size_test: test-time resize (shortest edge, longest-edge cap).
        size_divisibility: images are zero-padded (after normalization) to a multiple of it.
        fixed_input_size: (H, W) the network was exported for, or None when exported with
            dynamic sizes; images are then padded to exactly this size.
        num_classes: K.
        semantic_on, panoptic_on, instance_on: which results post-processing makes.
        sem_seg_postprocess_before_inference: resize mask logits before semantic inference.
        object_mask_threshold, overlap_threshold: panoptic inference thresholds.
        panoptic_within_mask: the panoptic rule of the model's release (``panoptic_inference``'s
            ``within_mask``).
        thing_ids: contiguous ids of the thing classes, or None.
        test_topk_per_image: instances kept per image.
    """

    input_format: str
    pixel_mean: Tuple[float, ...]
    pixel_std: Tuple[float, ...]
    min_size_test: int
    max_size_test: int
    size_divisibility: int
    fixed_input_size: Optional[Tuple[int, int]]
    num_classes: int
    semantic_on: bool
    panoptic_on: bool
    instance_on: bool
    sem_seg_postprocess_before_inference: bool
    object_mask_threshold: float
    overlap_threshold: float
    panoptic_within_mask: bool
    thing_ids: Optional[Tuple[int, ...]]
    test_topk_per_image: int

    @classmethod
    def from_model(cls, cfg, model, fixed_input_size: Optional[Tuple[int, int]] = None):
        """The settings of a built ``MaskFormer`` model and of its config's test-time resize."""
        return cls(
            input_format=cfg.INPUT.FORMAT,
            pixel_mean=tuple(model.pixel_mean.flatten().tolist()),
            pixel_std=tuple(model.pixel_std.flatten().tolist()),
            min_size_test=cfg.INPUT.MIN_SIZE_TEST,
            max_size_test=cfg.INPUT.MAX_SIZE_TEST,
            size_divisibility=model.size_divisibility,
            fixed_input_size=None if fixed_input_size is None else tuple(fixed_input_size),
            num_classes=model.sem_seg_head.num_classes,
            semantic_on=model.semantic_on,
            panoptic_on=model.panoptic_on,
            instance_on=model.instance_on,
            sem_seg_postprocess_before_inference=model.sem_seg_postprocess_before_inference,
            object_mask_threshold=model.object_mask_threshold,
            overlap_threshold=model.overlap_threshold,
            panoptic_within_mask=model.panoptic_within_mask,
            thing_ids=model.thing_ids,
            test_topk_per_image=model.test_topk_per_image,
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "the exported model") -> "InferenceSpec":
        """Parses ``to_json``'s output; ``source`` names the file in error messages."""
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: {SPEC_KEY} is not valid JSON ({e})") from None
        expected = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(fields, dict) or set(fields) != expected:
            got = sorted(fields) if isinstance(fields, dict) else type(fields).__name__
            raise ValueError(
                f"{source}: {SPEC_KEY} must have the keys {sorted(expected)}, got {got}; "
                "export the model again with tools/export_model.py"
            )
        for name in ("pixel_mean", "pixel_std", "fixed_input_size", "thing_ids"):
            if fields[name] is not None:
                fields[name] = tuple(fields[name])
        return cls(**fields)

    def padded_size(self, image_size: Tuple[int, int]) -> Tuple[int, int]:
        """The network input size for a resized image of ``image_size`` (h, w)."""
        h, w = image_size
        if self.fixed_input_size is not None:
            fixed_h, fixed_w = self.fixed_input_size
            if h > fixed_h or w > fixed_w:
                raise ValueError(
                    f"the resized image ({h}x{w}) is larger than the exported input size "
                    f"{fixed_h}x{fixed_w}; export with --dynamic or a larger --size"
                )
            return fixed_h, fixed_w
        d = self.size_divisibility
        if d > 1:
            h, w = -(-h // d) * d, -(-w // d) * d
        return h, w
