#!/usr/bin/env python
"""Same weights, same image: this project's models against Hugging Face transformers' own.

    python tools/compare_transformers.py [--size 384] [--only NAME ...]

For every combination of architecture and backbone the converter supports (``COMBINATIONS``),
builds a small transformers model whose every tensor is random (norms and BatchNorm statistics
included), saves it with ``save_pretrained``, converts the folder with ``mask2former.checkpoint.huggingface`` and
runs both models on the same image, normalized once and fed to both. Prints, per combination:

- the largest differences of the final layer's class logits and mask logits;
- semantic segmentation: the largest difference of the per-class scores against
  ``post_process_semantic_segmentation``, and the pixels whose class differs (only at ties);
- instances against ``post_process_instance_segmentation`` (same top-k, same score threshold):
  the largest score difference and the mask pixels that differ (only where a mask logit is
  within 1e-4 of 0);
- panoptic segments against ``post_process_panoptic_segmentation``: each of this project's
  segments must lie inside one of transformers' with the same class; the two differ by design
  (docs/weights.md): transformers measures a query's own area on score-weighted probabilities
  and gives a segment every pixel its query wins, this project (as the releases do) every pixel
  its query wins for MaskFormer models but only those inside the query's mask (probability
  >= 0.5) for Mask2Former models;
- the post-processings alone on designed predictions (``designed_predictions``: several
  classes, two instances of a thing class, a fused stuff class, a hidden query), where the
  panoptic results must be equal apart from the pixels no kept query covers;
- whether converting back to transformers reproduces every tensor bit for bit and loads with
  no missing or unexpected weights.

Both post-processings start from the mask logits bilinearly resized to the image, as this
project's model does (transformers' MaskFormer processor resizes the class-weighted maps
instead, its Mask2Former one resizes to 384 x 384 first: a difference of order, by design).
Needs transformers (a test dependency).
"""

import argparse
import os
import tempfile
import types

import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from safetensors.torch import load_file
from torch.nn import functional as F

from mask2former import add_maskformer2_config
from mask2former.checkpoint import MaskFormerCheckpointer
from mask2former.checkpoint.huggingface import export_checkpoint, import_checkpoint
from mask2former.config import merge_config

CLASS_NAMES = ["sky", "road", "car", "person", "tree"]
THING_CLASSES = ["car", "person"]
NUM_QUERIES = 6
STAGES = ["stage1", "stage2", "stage3", "stage4"]
TINY_SWIN = dict(embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], out_features=STAGES)
TINY_RESNET50 = dict(
    embedding_size=8, hidden_sizes=[32, 64, 128, 256], depths=[3, 4, 6, 3], out_features=STAGES
)
# name -> (architecture, backbone model_type, backbone config)
SWIN_224 = dict(TINY_SWIN, window_size=7, image_size=224)
SWIN_384 = dict(TINY_SWIN, window_size=12, image_size=384)
TINY_RESNET18 = dict(
    embedding_size=16,
    hidden_sizes=[64, 128, 256, 512],  # Detectron2 builds R18 / R34 with 64 channels in res2
    depths=[2, 2, 2, 2],
    layer_type="basic",
    out_features=STAGES,
)
COMBINATIONS = {
    "mask2former-swin-window7-224": ("mask2former", "swin", SWIN_224),
    "mask2former-swin-window12-384": ("mask2former", "swin", SWIN_384),
    "mask2former-resnet50": ("mask2former", "resnet", TINY_RESNET50),
    "maskformer-swin-window7-224": ("maskformer", "maskformer-swin", SWIN_224),
    "maskformer-swin-window12-384": ("maskformer", "maskformer-swin", SWIN_384),
    "maskformer-resnet50-stride-in-1x1": (
        "maskformer",
        "resnet",
        dict(TINY_RESNET50, downsample_in_bottleneck=True),
    ),
    "maskformer-resnet18": ("maskformer", "resnet", TINY_RESNET18),
}
INSTANCE_THRESHOLD = 0.2
PANOPTIC_THRESHOLD, PANOPTIC_OVERLAP = 0.5, 0.8
LOGIT_TOLERANCE = 1e-4


def transformers_model(name: str, seed: int = 0):
    """The random transformers model of combination ``name``, in eval mode."""
    import transformers as tf

    architecture, backbone_type, backbone = COMBINATIONS[name]
    backbone_class = {
        "swin": tf.SwinConfig,
        "maskformer-swin": tf.MaskFormerSwinConfig,
        "resnet": tf.ResNetConfig,
    }[backbone_type]
    labels = dict(
        id2label=dict(enumerate(CLASS_NAMES)), label2id={n: i for i, n in enumerate(CLASS_NAMES)}
    )
    # the tiny sizes (width 32, feed-forward 64, 4 heads) in each architecture's config keys
    if architecture == "mask2former":
        config_class, model_class = tf.Mask2FormerConfig, tf.Mask2FormerForUniversalSegmentation
        sizes = dict(feature_size=32, hidden_dim=32, num_attention_heads=4, dim_feedforward=64)
        sizes.update(encoder_layers=1, decoder_layers=4, num_queries=NUM_QUERIES)
    else:
        config_class, model_class = tf.MaskFormerConfig, tf.MaskFormerForInstanceSegmentation
        decoder = dict(d_model=32, decoder_ffn_dim=64, decoder_attention_heads=4, decoder_layers=2)
        sizes = dict(fpn_feature_size=32, decoder_config=dict(decoder, num_queries=NUM_QUERIES))
    config = config_class(
        backbone_config=backbone_class(**backbone), mask_feature_size=32, **sizes, **labels
    )
    model = model_class(config)
    return randomized(model, seed).eval()


def randomized(model, seed: int):
    """Every tensor random: weights and biases N(0, 0.1^2), 1-D weights (norm scales) near 1,
    BatchNorm variances in [0.5, 1.5), step counters positive. The class predictor gets larger
    weights, so that queries are confident enough for panoptic and instance results."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            noise = torch.randn(t.shape, generator=generator)
            if name.endswith("num_batches_tracked"):
                t.fill_(int(torch.randint(1, 1000, (), generator=generator)))
            elif not t.is_floating_point():
                continue
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=generator) + 0.5)
            elif name.startswith("class_predictor"):
                t.copy_(noise * 0.5)
            elif name.endswith("weight") and t.dim() == 1:
                t.copy_(1 + noise * 0.1)
            else:
                t.copy_(noise * 0.1)
    return model


def random_image(size: int, seed: int = 1) -> torch.Tensor:
    """(3, size, size) uint8: smooth random colour fields, so segments are contiguous."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 6, 6, generator=generator) * 255
    return F.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 255)[0].to(torch.uint8)


def project_model(config_file: str, opts=()):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    merge_config(cfg, config_file, list(opts))
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg).eval()
    checkpointer = MaskFormerCheckpointer(model)
    checkpointer.load(cfg.MODEL.WEIGHTS)
    if not checkpointer.last_report.complete:
        raise AssertionError(checkpointer.last_report.summary())
    # transformers runs its convolutions on contiguous tensors; a CPU model here is channels-last
    # by default, whose different rounding a deep random-weight ResNet amplifies past 1e-4: the
    # comparison is of the conversion, so both run in one layout
    return cfg, model.to(memory_format=torch.contiguous_format)


def _near_zero_only(differing: torch.Tensor, logits: torch.Tensor) -> bool:
    return bool((logits[differing].abs() < LOGIT_TOLERANCE).all())


def compare_semantic(ours_scores, processor, outputs, size):
    result = processor.post_process_semantic_segmentation(
        outputs, target_sizes=[size], return_segmentation_scores=True
    )[0]
    theirs = result.segmentation_scores
    differing = ours_scores.argmax(0) != result.segmentation
    top2 = theirs.topk(2, dim=0).values
    ties = (top2[0] - top2[1]) < LOGIT_TOLERANCE
    return {
        "semantic_score_diff": (ours_scores - theirs).abs().max().item(),
        "semantic_pixels_differing": int(differing.sum()),
        "semantic_differ_only_at_ties": bool(ties[differing].all()),
    }


def compare_instances(instances, processor, outputs, size, things_only=True):
    """Panoptic models return instances of the thing classes only (as the published code):
    then transformers' instances are compared after dropping the others."""
    result = processor.post_process_instance_segmentation(
        outputs, threshold=INSTANCE_THRESHOLD, target_sizes=[size], return_binary_maps=True
    )[0]
    classes = [CLASS_NAMES.index(n) for n in (THING_CLASSES if things_only else CLASS_NAMES)]
    maps = result["segmentation"] if result["segments_info"] else []
    theirs = sorted(
        (
            (info, mask)
            for info, mask in zip(result["segments_info"], maps)
            if info["label_id"] in classes
        ),
        key=lambda s: -s[0]["score"],
    )
    keep = instances.scores >= INSTANCE_THRESHOLD
    order = instances.scores[keep].argsort(descending=True)
    scores, classes, masks = (
        instances.scores[keep],
        instances.pred_classes[keep],
        instances.pred_masks[keep],
    )
    ours = [(scores[i].item(), classes[i].item(), masks[i]) for i in order]
    logits = outputs.masks_queries_logits[0]
    score_diff, pixels, near_zero_only = 0.0, 0, True
    labels_equal = len(ours) == len(theirs)
    for (score, label, mask), (info, their_mask) in zip(ours, theirs):
        labels_equal &= label == info["label_id"]
        score_diff = max(score_diff, abs(score - info["score"]))
        differing = mask != their_mask.bool()
        pixels += int(differing.sum())
        # the query of this instance: the one whose binary mask is closest to it
        query = ((logits > 0) != mask).flatten(1).sum(1).argmin()
        near_zero_only &= _near_zero_only(differing, logits[query])
    return {
        "instances": (len(ours), len(theirs)),
        "instance_classes_equal": labels_equal,
        "instance_score_diff": score_diff,
        "instance_mask_pixels_differing": pixels,
        "instance_masks_differ_only_near_0": near_zero_only,
    }


def panoptic_of(processor, outputs, size):
    stuff = {i for i, n in enumerate(CLASS_NAMES) if n not in THING_CLASSES}
    result = processor.post_process_panoptic_segmentation(
        outputs,
        threshold=PANOPTIC_THRESHOLD,
        overlap_mask_area_threshold=PANOPTIC_OVERLAP,
        label_ids_to_fuse=stuff,
        target_sizes=[size],
    )[0]
    labels = {s["id"]: s["label_id"] for s in result["segments_info"]}
    return result["segmentation"].to(torch.int64), labels


def their_segment(ours, segment, theirs, their_labels, where=None):
    """The id of transformers' segment under this project's ``segment``: the one non-void id
    (with the same class) there, else None."""
    pixels = ours == segment["id"]
    if where is not None:
        pixels &= where
    ids = [i for i in theirs[pixels].unique().tolist() if i != 0]
    if len(ids) == 1 and their_labels.get(ids[0]) == segment["category_id"]:
        return ids[0]
    return None


def compare_panoptic(panoptic, processor, outputs, size):
    """Each of this project's segments lies in one of transformers' (or in its void, where
    transformers dropped the query by its own area rule) with the same class."""
    ours, segments = panoptic
    theirs, their_labels = panoptic_of(processor, outputs, size)
    matched = [their_segment(ours, s, theirs, their_labels) for s in segments]
    return {
        "panoptic_segments": (len(segments), len(their_labels)),
        "panoptic_segments_inside_theirs": sum(m is not None for m in matched),
    }


def compare_designed_panoptic(panoptic, processor, outputs, size, within_mask: bool):
    """For confident predictions (mask probabilities near 0 or 1) the two keep the same
    segments and differ only by design: with ``within_mask`` (the Mask2Former release's rule)
    this project leaves void the pixels that no kept query covers (mask probability < 0.5 for
    all), which transformers gives to the query that wins them. Returns the segment counts and
    the pixels that differ beyond that."""
    ours, segments = panoptic
    theirs, their_labels = panoptic_of(processor, outputs, size)
    mask_cls, mask_pred = outputs.class_queries_logits[0], outputs.masks_queries_logits[0]
    scores, labels = mask_cls.softmax(-1).max(-1)
    kept = (labels != mask_cls.shape[-1] - 1) & (scores > PANOPTIC_THRESHOLD)
    expected = torch.zeros_like(ours)
    for segment in segments:
        their_id = their_segment(ours, segment, theirs, their_labels)
        if their_id is not None:
            expected[theirs == their_id] = segment["id"]
    if within_mask:
        expected[~(mask_pred[kept] > 0).any(0)] = 0
    return {
        "designed_panoptic_segments": (len(segments), len(their_labels)),
        "designed_panoptic_pixels_differing": int((ours != expected).sum()),
    }


def designed_predictions(size: int):
    """Class and mask logits (one image) with the situations the post-processings must decide:
    confident queries of every class, two instances of a thing class, two queries of one stuff
    class (fused), a query mostly hidden by a more confident one (dropped by the overlap
    rule), a "no object" query and an unconfident one. Masks are boxes on a 24 x 24 grid with
    logits +-8, bilinearly resized (smooth borders)."""
    # class, class logit, box (y0, x0, y1, x1) on the grid; None = "no object"
    queries = [
        ("car", 6.0, (2, 2, 10, 10)),
        ("car", 5.0, (12, 2, 20, 9)),
        ("person", 7.0, (3, 12, 14, 18)),
        ("road", 6.0, (16, 10, 24, 24)),
        ("road", 5.0, (20, 0, 24, 10)),
        ("sky", 4.0, (0, 0, 3, 24)),
        ("tree", 5.0, (4, 13, 12, 17)),  # mostly under "person"
        (None, 6.0, (8, 8, 16, 16)),
        ("tree", 0.0, (0, 18, 24, 24)),  # all logits 0: unconfident
    ]
    num_classes = len(CLASS_NAMES)
    class_logits = torch.zeros(1, len(queries), num_classes + 1)
    masks = torch.full((1, len(queries), 24, 24), -8.0)
    for q, (name, logit, (y0, x0, y1, x1)) in enumerate(queries):
        class_logits[0, q, num_classes if name is None else CLASS_NAMES.index(name)] = logit
        masks[0, q, y0:y1, x0:x1] = 8.0
    masks = F.interpolate(masks, size=(size, size), mode="bilinear", align_corners=False)
    return types.SimpleNamespace(class_queries_logits=class_logits, masks_queries_logits=masks)


def image_processor(architecture: str):
    import transformers as tf

    if architecture == "mask2former":
        return tf.Mask2FormerImageProcessor()
    return tf.MaskFormerImageProcessor()


def compare(name: str, workdir: str, size: int = 384) -> dict:
    """Converts the random transformers model of combination ``name`` (files under
    ``workdir``), runs both models and returns the measured differences."""
    hf = transformers_model(name)
    architecture = COMBINATIONS[name][0]
    source = os.path.join(workdir, "transformers")
    hf.save_pretrained(source)
    imported = import_checkpoint(
        source,
        os.path.join(workdir, "converted"),
        tasks=["semantic", "instance", "panoptic"],
        thing_classes=THING_CLASSES,
    )
    cfg, model = project_model(
        imported.config_file,
        [
            "TEST.DETECTIONS_PER_IMAGE",
            str(NUM_QUERIES),  # transformers keeps num_queries
            "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD",
            str(PANOPTIC_THRESHOLD),
            "MODEL.MASK_FORMER.TEST.OVERLAP_THRESHOLD",
            str(PANOPTIC_OVERLAP),
        ],
    )
    image = random_image(size)
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(3, 1, 1)
    pixels = ((image.float() - mean) / std)[None]
    raw = {}
    hook = model.sem_seg_head.register_forward_hook(lambda module, args, out: raw.update(out))
    with torch.no_grad():
        theirs = hf(pixel_values=pixels)
        ours = model([{"image": image, "height": size, "width": size}])[0]
    hook.remove()
    measured = {
        "class_logits_diff": (raw["pred_logits"] - theirs.class_queries_logits).abs().max().item(),
        "mask_logits_diff": (raw["pred_masks"] - theirs.masks_queries_logits).abs().max().item(),
    }
    outputs = types.SimpleNamespace(
        class_queries_logits=theirs.class_queries_logits,
        masks_queries_logits=F.interpolate(
            theirs.masks_queries_logits, size=(size, size), mode="bilinear", align_corners=False
        ),
    )
    processor = image_processor(architecture)
    measured.update(compare_semantic(ours["sem_seg"], processor, outputs, (size, size)))
    measured.update(compare_instances(ours["instances"], processor, outputs, (size, size)))
    measured.update(compare_panoptic(ours["panoptic_seg"], processor, outputs, (size, size)))
    # the same model as an instance-segmentation model (no panoptic): instances of every class
    model.panoptic_on = False
    masks = F.interpolate(
        raw["pred_masks"], size=(size, size), mode="bilinear", align_corners=False
    )
    instances = model.inference_single(raw["pred_logits"][0], masks[0], (size, size), size, size)
    model.panoptic_on = True
    every_class = compare_instances(
        instances["instances"], processor, outputs, (size, size), things_only=False
    )
    measured.update({"all_classes_" + key: value for key, value in every_class.items()})

    # the post-processings alone, on the same designed predictions
    designed = designed_predictions(size)
    ours = model.inference_single(
        designed.class_queries_logits[0], designed.masks_queries_logits[0], (size, size), size, size
    )
    for key, value in compare_semantic(ours["sem_seg"], processor, designed, (size, size)).items():
        measured["designed_" + key] = value
    instances = compare_instances(ours["instances"], processor, designed, (size, size))
    measured.update({"designed_" + key: value for key, value in instances.items()})
    measured.update(
        compare_designed_panoptic(
            ours["panoptic_seg"], processor, designed, (size, size), model.panoptic_within_mask
        )
    )

    back = os.path.join(workdir, "back")
    export_checkpoint(imported.config_file, imported.weights_file, back)
    _, info = type(hf).from_pretrained(back, output_loading_info=True)
    original = load_file(os.path.join(source, "model.safetensors"))
    written = load_file(os.path.join(back, "model.safetensors"))
    problems = ("missing_keys", "unexpected_keys", "mismatched_keys")
    measured["loads_strictly"] = not any(info[k] for k in problems)
    measured["round_trip_exact"] = set(original) == set(written) and all(
        original[k].dtype == written[k].dtype and torch.equal(original[k], written[k])
        for k in original
    )
    return measured


COLUMNS = [  # (header, measured key(s))
    ("class logits", "class_logits_diff"),
    ("mask logits", "mask_logits_diff"),
    ("semantic scores", "semantic_score_diff"),
    ("semantic pixels differing", "semantic_pixels_differing"),
    ("thing instances (ours / theirs)", "instances"),
    ("instances of any class (ours / theirs)", "all_classes_instances"),
    ("instance scores", "all_classes_instance_score_diff"),
    ("instance mask pixels differing", "all_classes_instance_mask_pixels_differing"),
    ("panoptic segments (ours / theirs)", "panoptic_segments"),
    ("ours inside theirs", "panoptic_segments_inside_theirs"),
    ("designed: panoptic pixels differing", "designed_panoptic_pixels_differing"),
    ("way back bit for bit", "round_trip_exact"),
]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.1e}"
    if isinstance(value, tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=384, help="square image size")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(COMBINATIONS), help="combinations to run"
    )
    parser.add_argument("--all", action="store_true", help="print every measured value")
    args = parser.parse_args(argv)
    import transformers

    print(f"transformers {transformers.__version__}, torch {torch.__version__}\n")
    print("| combination | " + " | ".join(header for header, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name in args.only or COMBINATIONS:
        with tempfile.TemporaryDirectory() as workdir:
            measured = compare(name, workdir, args.size)
        print(f"| {name} | " + " | ".join(_cell(measured[key]) for _, key in COLUMNS) + " |")
        if args.all:
            print("  " + ", ".join(f"{k}: {_cell(v)}" for k, v in measured.items()))


if __name__ == "__main__":
    main()
