"""PerPixelBaselineHead and PerPixelBaselinePlusHead (MaskFormer's per-pixel classification
baselines, with Detectron2's SemanticSegmentor): the loss is the cross-entropy of the 4x
upsampled logits with the ignore label left out, PerPixelBaseline+ takes its class logits
from the K queries' masks and supervises every decoder layer, and inference returns the
upsampled logits cropped and resized to the requested size."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model
from detectron2.modeling.postprocessing import sem_seg_postprocess

from helpers.configs import make_tiny_cfg

NUM_CLASSES = 5


def _cfg(head: str, deep_supervision: bool = True):
    cfg = make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder", num_classes=NUM_CLASSES)
    cfg.merge_from_list(
        [
            "MODEL.META_ARCHITECTURE",
            "SemanticSegmentor",
            "MODEL.SEM_SEG_HEAD.NAME",
            head,
            "MODEL.SEM_SEG_HEAD.IGNORE_VALUE",
            255,
            "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT",
            2.5,
            "MODEL.MASK_FORMER.DROPOUT",
            0.0,
            "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES",
            NUM_CLASSES,
            "MODEL.MASK_FORMER.DEEP_SUPERVISION",
            deep_supervision,
        ]
    )
    return cfg


def _batch():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, NUM_CLASSES, (2, 64, 64), generator=g)
    labels[0, :10] = 255  # ignored rows
    return [
        {"image": torch.rand(3, 64, 64, generator=g) * 255, "sem_seg": labels[i]} for i in range(2)
    ]


def _head_logits(model, batch):
    """(final (N, K, 16, 16), [aux ...]) logits of the head, computed from its parts."""
    images = torch.stack([(x["image"] - model.pixel_mean) / model.pixel_std for x in batch])
    head = model.sem_seg_head
    features = model.backbone(images)
    mask_features, _, _ = head.pixel_decoder.forward_features(features)
    if not hasattr(head, "transformer_in_feature"):
        return head.predictor(mask_features), []
    out = head.predictor(features[head.transformer_in_feature], mask_features)
    return out["pred_masks"], [a["pred_masks"] for a in out.get("aux_outputs", [])]


def _cross_entropy(logits, labels):
    up = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
    valid = labels != 255
    log_prob = up.log_softmax(1).permute(0, 2, 3, 1)[valid]  # (valid pixels, K)
    return -log_prob.gather(1, labels[valid][:, None]).mean()


@pytest.mark.parametrize(
    "head,deep_supervision",
    [
        ("PerPixelBaselineHead", True),
        ("PerPixelBaselinePlusHead", True),
        ("PerPixelBaselinePlusHead", False),
    ],
)
def test_loss_is_weighted_cross_entropy_of_upsampled_logits(head, deep_supervision):
    torch.manual_seed(0)
    model = build_model(_cfg(head, deep_supervision)).train()
    batch = _batch()
    losses = model(batch)
    with torch.no_grad():  # training-mode BatchNorm: batch statistics, same as in model(batch)
        final, aux = _head_logits(model, batch)
    labels = torch.stack([x["sem_seg"] for x in batch])
    expected = {"loss_sem_seg": 2.5 * _cross_entropy(final, labels)}
    for i, a in enumerate(aux):
        expected[f"loss_sem_seg_{i}"] = 2.5 * _cross_entropy(a, labels)
    plus_with_aux = head == "PerPixelBaselinePlusHead" and deep_supervision
    # one loss per decoder layer: DEC_LAYERS - 1 auxiliary ones (2 layers in the tiny config)
    assert len(aux) == (1 if plus_with_aux else 0)
    assert set(losses) == set(expected)
    for k in expected:
        assert losses[k].item() == pytest.approx(expected[k].item(), rel=1e-5), k


@pytest.mark.parametrize("head", ["PerPixelBaselineHead", "PerPixelBaselinePlusHead"])
def test_inference_returns_upsampled_logits_resized_to_the_request(head):
    torch.manual_seed(0)
    model = build_model(_cfg(head)).eval()
    batch = _batch()[:1]
    with torch.no_grad():
        (result,) = model([{"image": batch[0]["image"], "height": 32, "width": 40}])
        final, _ = _head_logits(model, batch)
    up = F.interpolate(final, scale_factor=4, mode="bilinear", align_corners=False)[0]
    expected = sem_seg_postprocess(up, (64, 64), 32, 40)
    torch.testing.assert_close(result["sem_seg"], expected, rtol=1e-4, atol=1e-5)


def test_plus_head_needs_one_query_per_class():
    cfg = _cfg("PerPixelBaselinePlusHead")
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = NUM_CLASSES + 3
    expected = r"NUM_OBJECT_QUERIES \(8\) must equal .*NUM_CLASSES \(5\)"
    with pytest.raises(ValueError, match=expected):
        build_model(cfg)
