"""The inference settings of a MaskFormer / Mask2Former model, in one place: what turns an image
into the network's input and the network's outputs into results. The model holds them
(``model.inference_spec``); the predictor and the exported runtime read them from there or from
an exported file, where they are stored as JSON."""
import dataclasses
import json
from typing import Optional, Tuple

from detectron2.data import MetadataCatalog


def thing_ids_of(metadata) -> Optional[Tuple[int, ...]]:
    """Contiguous ids of the thing classes of a dataset's metadata, or None if it has none."""
    mapping = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    return None if mapping is None else tuple(sorted(mapping.values()))


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

    def __post_init__(self):
        if not (self.semantic_on or self.panoptic_on or self.instance_on):
            raise ValueError(
                "MaskFormer: enable at least one of MODEL.MASK_FORMER.TEST.SEMANTIC_ON, "
                "PANOPTIC_ON, INSTANCE_ON"
            )
        # sequences from a config or JSON become tuples, so that specs compare and hash
        for name in ("pixel_mean", "pixel_std", "thing_ids", "fixed_input_size"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.panoptic_on or self.instance_on:
            object.__setattr__(self, "sem_seg_postprocess_before_inference", True)

    @classmethod
    def from_config(cls, cfg) -> "InferenceSpec":
        """The settings of a config's model. Thing classes come from the metadata of
        DATASETS.TRAIN[0] (else TEST[0]); a SIZE_DIVISIBILITY < 0 stays for the model to
        replace by its backbone's."""
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
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "the exported model") -> "InferenceSpec":
        """Parses ``to_json``'s output; ``source`` names the file in error messages."""
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: its inference spec is not valid JSON ({e})") from None
        expected = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(fields, dict) or set(fields) != expected:
            got = sorted(fields) if isinstance(fields, dict) else type(fields).__name__
            raise ValueError(
                f"{source}: its inference spec must have the keys {sorted(expected)}, got {got}; "
                "export the model again with tools/export_model.py"
            )
        return cls(**fields)
