"""The inference settings of a MaskFormer / Mask2Former model, in one place: what turns an image
into the network's input and the network's outputs into results. The model holds them
(``model.inference_spec``); the predictor and the exported runtime read them from there or from
an exported file, where they are stored as JSON."""

import dataclasses
import json
from typing import FrozenSet, Optional, Tuple, Union

from detectron2.data import MetadataCatalog

from ...errors import UserError

# the fields added after the first exported files: files without them load with the defaults
# (today's behaviour); every other field must be in a file
_ADDED_FIELDS = (
    "mask_threshold",
    "panoptic_fuse_classes",
    "panoptic_segment_scores",
    "instance_mask_format",
    "sliding_window_size",
    "sliding_window_stride",
)
INSTANCE_MASK_FORMATS = ("bitmask", "rle")
FUSE_GROUPS = ("stuff", "thing")


class InferenceOptionError(UserError, ValueError):
    """An inference option (MODEL.MASK_FORMER.TEST.*) that cannot work."""


def thing_ids_of(metadata) -> Optional[Tuple[int, ...]]:
    """Contiguous ids of the thing classes of a dataset's metadata, or None if it has none."""
    mapping = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    return None if mapping is None else tuple(sorted(mapping.values()))


# InferenceSpec field -> its key under MODEL.MASK_FORMER.TEST
_OPTION_KEYS = {
    "mask_threshold": "MASK_THRESHOLD",
    "panoptic_fuse_classes": "PANOPTIC_FUSE_CLASSES",
    "panoptic_segment_scores": "PANOPTIC_SEGMENT_SCORES",
    "instance_mask_format": "INSTANCE_MASK_FORMAT",
}


def _options_of_config(test) -> dict:
    """The InferenceSpec fields of the inference options that MODEL.MASK_FORMER.TEST (``test``)
    sets; a config without their keys sets none (the spec's defaults apply)."""
    options = {field: test[key] for field, key in _OPTION_KEYS.items() if key in test}
    window = test.get("SLIDING_WINDOW")
    if window is not None and window.ENABLED:
        options.update(sliding_window_size=window.SIZE, sliding_window_stride=window.STRIDE)
    return options


def panoptic_within_mask(cfg) -> bool:
    """Which release's panoptic rule a config's model follows (``panoptic_inference``'s
    ``within_mask``). The MaskFormer release gives a segment every pixel its query wins; the
    Mask2Former release only those where the query's own mask probability is also >= 0.5.
    MaskFormer-release models are the ones with MaskFormer's transformer decoder
    (StandardTransformerDecoder): its checkpoints load into no other decoder."""
    return cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME != "StandardTransformerDecoder"


@dataclasses.dataclass(frozen=True)
class InferenceSpec:
    """
    Attributes:
        input_format: "RGB" or "BGR", the channel order the network expects.
        pixel_mean, pixel_std: per-channel normalization, in ``input_format`` order.
        min_size_test, max_size_test: test-time resize (shortest edge, longest-edge cap).
        size_divisibility: images are zero-padded (after normalization) to a multiple of it
            (< 0 only before the model resolves it to its backbone's).
        num_classes: K.
        semantic_on, panoptic_on, instance_on: which results post-processing makes (at least
            one).
        sem_seg_postprocess_before_inference: resize mask logits to the output size before
            semantic inference (exact, more memory) rather than resizing its result; always
            True with panoptic or instance results, which need full-resolution masks.
        object_mask_threshold: panoptic inference keeps queries whose class probability is
            above this.
        overlap_threshold: panoptic inference drops segments that keep less than this fraction
            of their mask.
        panoptic_within_mask: panoptic segments keep only the pixels inside their query's mask
            (Mask2Former release) rather than all pixels their query wins (MaskFormer release);
            see :func:`panoptic_within_mask`.
        thing_ids: contiguous ids of the thing classes, or None (needed for panoptic results;
            instance results of a panoptic model keep only these classes).
        test_topk_per_image: instances kept per image.
        fixed_input_size: (H, W) an exported network was exported for, images being padded to
            exactly this size; None (the model, dynamic exports): padded to a multiple of
            ``size_divisibility``.
        mask_threshold: a query's mask is the pixels of mask probability >= this in panoptic
            inference (its area for the overlap test, and with ``panoptic_within_mask`` its
            segment's pixels), > this in instance inference (logit > log(t / (1 - t))).
        panoptic_fuse_classes: classes whose queries panoptic inference fuses into one segment
            per class: "stuff" (the classes not in ``thing_ids``), "thing" and contiguous ids,
            in any combination; () fuses none.
        panoptic_segment_scores: panoptic segments_info entries get a "score": the class
            probability of the segment's query (the highest of its queries when fused).
        instance_mask_format: "bitmask" (``pred_masks`` (R, H, W) bool) or "rle"
            (``pred_masks_rle``, one pycocotools RLE dict per instance, instead).
        sliding_window_size, sliding_window_stride: (h, w) of the windows and of the steps
            between them of sliding-window semantic inference
            (:func:`~.sliding.sliding_window_scores`); None: the whole image at once.
    """

    input_format: str
    pixel_mean: Tuple[float, ...]
    pixel_std: Tuple[float, ...]
    min_size_test: int
    max_size_test: int
    size_divisibility: int
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
    fixed_input_size: Optional[Tuple[int, int]] = None
    mask_threshold: float = 0.5
    panoptic_fuse_classes: Tuple[Union[str, int], ...] = ("stuff",)
    panoptic_segment_scores: bool = False
    instance_mask_format: str = "bitmask"
    sliding_window_size: Optional[Tuple[int, int]] = None
    sliding_window_stride: Optional[Tuple[int, int]] = None

    def __post_init__(self):
        if not (self.semantic_on or self.panoptic_on or self.instance_on):
            raise ValueError(
                "MaskFormer: enable at least one of MODEL.MASK_FORMER.TEST.SEMANTIC_ON, "
                "PANOPTIC_ON, INSTANCE_ON"
            )
        # sequences from a config or JSON become tuples, so that specs compare and hash
        for name in (
            "pixel_mean",
            "pixel_std",
            "thing_ids",
            "fixed_input_size",
            "panoptic_fuse_classes",
            "sliding_window_size",
            "sliding_window_stride",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.panoptic_on or self.instance_on:
            object.__setattr__(self, "sem_seg_postprocess_before_inference", True)
        self._check_options()

    def _check_options(self) -> None:
        """The options of MODEL.MASK_FORMER.TEST that cannot work, refused naming the key."""
        key = "MODEL.MASK_FORMER.TEST."
        if not 0.0 < self.mask_threshold < 1.0:
            raise InferenceOptionError(
                f"{key}MASK_THRESHOLD must be a probability strictly between 0 and 1, got "
                f"{self.mask_threshold!r}"
            )
        for item in self.panoptic_fuse_classes:
            is_id = isinstance(item, int) and not isinstance(item, bool)
            if not (item in FUSE_GROUPS or (is_id and 0 <= item < self.num_classes)):
                raise InferenceOptionError(
                    f'{key}PANOPTIC_FUSE_CLASSES: {item!r} is neither "stuff", "thing" nor '
                    f"a class id in [0, {self.num_classes}); e.g. ['stuff'] (the default) or "
                    "['stuff', 3]"
                )
        if self.instance_mask_format not in INSTANCE_MASK_FORMATS:
            raise InferenceOptionError(
                f"{key}INSTANCE_MASK_FORMAT must be one of {list(INSTANCE_MASK_FORMATS)}, got "
                f"{self.instance_mask_format!r}"
            )
        if (self.sliding_window_size is None) != (self.sliding_window_stride is None):
            raise InferenceOptionError(
                "InferenceSpec: give sliding_window_size and sliding_window_stride together"
            )
        if self.sliding_window_size is None:
            return
        window = f"{key}SLIDING_WINDOW"
        if self.panoptic_on or self.instance_on:
            raise InferenceOptionError(
                f"{window}.ENABLED is for semantic inference only: set {key}PANOPTIC_ON and "
                f"{key}INSTANCE_ON to False, or {window}.ENABLED to False"
            )
        for name, values in (
            ("SIZE", self.sliding_window_size),
            ("STRIDE", self.sliding_window_stride),
        ):
            if len(values) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
            ):
                raise InferenceOptionError(
                    f"{window}.{name} must be two integers >= 1 (height, width), got {list(values)}"
                )
        if any(s > w for s, w in zip(self.sliding_window_stride, self.sliding_window_size)):
            raise InferenceOptionError(
                f"{window}.STRIDE {list(self.sliding_window_stride)} is larger than "
                f"{window}.SIZE {list(self.sliding_window_size)}: pixels between windows would "
                "get no prediction; use a stride <= the size"
            )

    def fused_class_ids(self) -> FrozenSet[int]:
        """The contiguous ids ``panoptic_fuse_classes`` names (needs ``thing_ids``)."""
        things = frozenset(self.thing_ids or ())
        groups = {"stuff": frozenset(range(self.num_classes)) - things, "thing": things}
        return frozenset().union(
            *(groups[item] if item in groups else {item} for item in self.panoptic_fuse_classes)
        )

    @classmethod
    def from_config(cls, cfg) -> "InferenceSpec":
        """The settings of a config's model. Thing classes come from the metadata of
        DATASETS.TRAIN[0] (else TEST[0]); a SIZE_DIVISIBILITY < 0 stays for the model to
        replace by its backbone's; the inference options take their defaults in a config
        without their keys (``mask2former.config.add_inference_options_config``)."""
        mf = cfg.MODEL.MASK_FORMER
        datasets = cfg.DATASETS.TRAIN or cfg.DATASETS.TEST
        return cls(
            input_format=cfg.INPUT.FORMAT,
            pixel_mean=cfg.MODEL.PIXEL_MEAN,
            pixel_std=cfg.MODEL.PIXEL_STD,
            min_size_test=cfg.INPUT.MIN_SIZE_TEST,
            max_size_test=cfg.INPUT.MAX_SIZE_TEST,
            size_divisibility=mf.SIZE_DIVISIBILITY,
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            semantic_on=mf.TEST.SEMANTIC_ON,
            panoptic_on=mf.TEST.PANOPTIC_ON,
            instance_on=mf.TEST.INSTANCE_ON,
            sem_seg_postprocess_before_inference=mf.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE,
            object_mask_threshold=mf.TEST.OBJECT_MASK_THRESHOLD,
            overlap_threshold=mf.TEST.OVERLAP_THRESHOLD,
            panoptic_within_mask=panoptic_within_mask(cfg),
            thing_ids=thing_ids_of(MetadataCatalog.get(datasets[0])) if datasets else None,
            test_topk_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
            **_options_of_config(mf.TEST),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "the exported model") -> "InferenceSpec":
        """Parses ``to_json``'s output; ``source`` names the file in error messages. Files
        written before the fields of ``_ADDED_FIELDS`` existed load with their defaults."""
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: its inference spec is not valid JSON ({e})") from None
        allowed = {f.name for f in dataclasses.fields(cls)}
        required = allowed - set(_ADDED_FIELDS)
        if not isinstance(fields, dict) or not required <= set(fields) <= allowed:
            got = sorted(fields) if isinstance(fields, dict) else type(fields).__name__
            raise ValueError(
                f"{source}: its inference spec must have the keys {sorted(required)} (and "
                f"optionally {sorted(_ADDED_FIELDS)}), got {got}; export the model again with "
                "tools/export_model.py"
            )
        return cls(**fields)
