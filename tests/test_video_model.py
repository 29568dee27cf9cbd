"""The video model: 3-D position encoding, the video decoder (same parameters as the image one,
masked attention over the clip), targets of clips, and the shared matcher and criterion on
video clips against their image counterparts."""

import math

import pytest
import torch
from detectron2.modeling import build_model

from helpers.video import clip_instances, make_tiny_video_cfg, random_frames
from mask2former.layers.position_encoding import PositionEmbeddingSine3D
from mask2former.modeling.criterion import SetCriterion
from mask2former.modeling.criterion.matcher import HungarianMatcher
from mask2former.modeling.transformer_decoder import build_transformer_decoder
from mask2former.modeling.transformer_decoder.mask2former_transformer_decoder import (
    mask_logits_of,
    masked_attention_mask,
)
from mask2former.utils.reference_model import reference_model


def test_3d_position_encoding_formula():
    """Channel c < F of frame t at (y, x): sin or cos (even / odd c) of the normalized y over
    10000^(2 floor(c/2) / F); channels F..2F the same of x; plus, on every channel c < 2F, the
    same of the normalized t over 10000^(2 floor(c/2) / 2F)."""
    feats, t_len, h, w = 4, 3, 2, 5
    pe = PositionEmbeddingSine3D(feats, normalize=True)
    out = pe(torch.zeros(2, t_len, 7, h, w))
    assert out.shape == (2, t_len, 2 * feats, h, w)

    def wave(position, c, num):
        value = position / 10000 ** (2 * (c // 2) / num)
        return math.sin(value) if c % 2 == 0 else math.cos(value)

    eps, scale = 1e-6, 2 * math.pi
    for t in range(t_len):
        z = (t + 1) / (t_len + eps) * scale
        for y in range(h):
            for x in range(w):
                for c in range(2 * feats):
                    spatial = (
                        wave((y + 1) / (h + eps) * scale, c, feats)
                        if c < feats
                        else wave((x + 1) / (w + eps) * scale, c - feats, feats)
                    )
                    expected = spatial + wave(z, c, 2 * feats)
                    assert out[1, t, c, y, x].item() == pytest.approx(expected, abs=1e-5)


def test_video_logits_and_attention_masks_over_the_clip():
    embed, features = torch.randn(2, 3, 8), torch.randn(2, 4, 8, 5, 6)
    logits = mask_logits_of(embed, features)
    torch.testing.assert_close(logits, torch.einsum("nqc,ntchw->nqthw", embed, features))
    # a query whose mask is empty in frame 0 but not in frame 1 attends to frame 1 only;
    # one empty in every frame attends everywhere
    logits = torch.full((1, 2, 2, 4, 4), -5.0)
    logits[0, 0, 1, :2, :2] = 5.0
    mask = masked_attention_mask(logits, (4, 4))
    assert mask.shape == (1, 1, 2, 2 * 16)
    frames = mask[0, 0, 0].view(2, 4, 4)
    assert not frames[0].any() and frames[1, :2, :2].all() and frames[1].sum() == 4
    assert mask[0, 0, 1].all()


@pytest.fixture
def video_decoder_pair():
    cfg = make_tiny_video_cfg(num_frames=3)
    cfg.MODEL.MASK_FORMER.DEC_LAYERS = 5
    video = build_transformer_decoder(cfg, 32)
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
    image = build_transformer_decoder(cfg, 32)
    return video, image


def test_video_decoder_has_the_image_decoders_parameters(video_decoder_pair):
    video, image = video_decoder_pair
    assert {k: v.shape for k, v in video.state_dict().items()} == {
        k: v.shape for k, v in image.state_dict().items()
    }
    video.load_state_dict(image.state_dict())


def test_video_decoder_outputs_per_clip(video_decoder_pair):
    """Training: a batch of 2 clips x 3 frames gives per-clip classes and per-frame masks, with
    4 auxiliary predictions; inference: the whole batch is one clip."""
    decoder, _ = video_decoder_pair
    feats = [torch.randn(6, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(6, 32, 16, 16)
    out = decoder.train()(feats, mask_features)
    assert out["pred_logits"].shape == (2, 8, 6)
    assert out["pred_masks"].shape == (2, 8, 3, 16, 16)
    assert out["pred_embeds"].shape == (2, 8, 32)
    assert [a["pred_masks"].shape for a in out["aux_outputs"]] == [(2, 8, 3, 16, 16)] * 4
    with pytest.raises(ValueError, match="clips of INPUT.SAMPLING_FRAME_NUM=3"):
        decoder([f[:4] for f in feats], mask_features[:4])
    with torch.no_grad():
        out = decoder.eval()([f[:5] for f in feats], mask_features[:5])
    assert out["pred_masks"].shape == (1, 8, 5, 16, 16) and out["aux_outputs"] == []


def test_video_decoder_mask_is_one_embedding_times_each_frame(video_decoder_pair):
    """A query's masks in the frames of a clip come from one embedding: with the frames'
    mask features swapped, its mask logits swap too."""
    decoder, _ = video_decoder_pair
    decoder.eval()
    feats = [torch.randn(2, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(2, 32, 16, 16)
    with torch.no_grad():
        out = decoder(feats, mask_features)
    embed = decoder.mask_embed(out["pred_embeds"])  # (1, Q, C)
    torch.testing.assert_close(
        out["pred_masks"][0],
        torch.einsum("qc,tchw->qthw", embed[0], mask_features),
        rtol=1e-4,
        atol=1e-4,
    )


def test_video_decoder_fast_path_matches_reference(video_decoder_pair):
    decoder, _ = video_decoder_pair
    decoder.train()  # the decoder has no dropout; train mode returns every prediction
    feats = [torch.randn(6, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.randn(6, 32, 16, 16)
    with torch.no_grad():
        fast = decoder(feats, mask_features)
        ref = reference_model(decoder)(feats, mask_features)
    torch.testing.assert_close(fast["pred_masks"], ref["pred_masks"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast["pred_logits"], ref["pred_logits"], rtol=1e-4, atol=1e-4)


def test_prepare_targets_of_clips():
    """Objects absent from some frames keep empty masks there and their class; an object
    absent from every frame of the clip is no target; masks are padded to the batch."""
    cfg = make_tiny_video_cfg(num_frames=3)
    model = build_model(cfg)
    masks = torch.zeros(3, 3, 40, 50, dtype=torch.bool)
    masks[0, 0, :5, :5] = masks[2, 0, 10:20, 10:20] = True
    masks[1, 1, 30:, 40:] = True
    ids = [[4, -1, -1], [-1, 9, -1], [4, -1, -1]]
    classes = [2, 0, 1]
    video = {"image": random_frames(3, 40, 50), "instances": clip_instances(ids, classes, masks)}
    images = model.preprocess_frames(video["image"])
    (target,) = model.prepare_targets([video], images)
    assert target["labels"].tolist() == [2, 0]
    assert target["ids"].tolist() == [[4, -1, 4], [-1, 9, -1]]
    assert target["masks"].shape == (2, 3, 64, 64)
    torch.testing.assert_close(target["masks"][:, :, :40, :50], masks[:, :2].transpose(0, 1))
    assert not target["masks"][:, :, 40:].any() and not target["masks"][:, :, :, 50:].any()


def test_training_step_on_clips():
    cfg = make_tiny_video_cfg(num_frames=2)
    model = build_model(cfg).train()
    masks = torch.zeros(2, 2, 64, 64, dtype=torch.bool)
    masks[:, 0, 5:30, 5:30] = True
    masks[1, 1, 40:60, 30:50] = True
    video = {
        "image": random_frames(2),
        "instances": clip_instances([[1, -1], [1, 2]], [3, 4], masks),
    }
    losses = model([video, video])
    assert len(losses) == 3 * cfg.MODEL.MASK_FORMER.DEC_LAYERS
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.backbone.stem.conv1.weight.grad.abs().sum() > 0
    assert model.sem_seg_head.predictor.query_embed.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="has 3 frames"):
        model(
            [{"image": random_frames(3), "instances": video["instances"] + video["instances"][:1]}]
        )


def _frames_side_by_side(masks):
    """(Q, T, h, w) -> (Q, h, T * w)."""
    return torch.cat(masks.unbind(1), dim=-1)


def test_matcher_costs_cover_every_frame():
    """Full-resolution costs (no point sampling) of a clip are the image costs of its frames
    placed side by side; with point sampling, a one-frame clip is an image."""
    torch.manual_seed(0)
    pred = {"pred_logits": torch.randn(2, 6, 4), "pred_masks": torch.randn(2, 6, 3, 8, 8)}
    targets = [
        {"labels": torch.tensor([1, 2]), "masks": torch.rand(2, 3, 32, 32) > 0.5},
        {"labels": torch.tensor([0]), "masks": torch.rand(1, 3, 32, 32) > 0.5},
    ]
    matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=0)
    side_by_side = {
        "pred_logits": pred["pred_logits"],
        "pred_masks": torch.stack([_frames_side_by_side(m) for m in pred["pred_masks"]]),
    }
    image_targets = [
        {"labels": t["labels"], "masks": _frames_side_by_side(t["masks"])} for t in targets
    ]
    expected = matcher(side_by_side, image_targets)
    for (p, t), (ep, et) in zip(matcher(pred, targets), expected):
        assert p.tolist() == ep.tolist() and t.tolist() == et.tolist()

    point_matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=50)
    one_frame = {"pred_logits": pred["pred_logits"], "pred_masks": pred["pred_masks"][:, :, :1]}
    one_frame_targets = [{"labels": t["labels"], "masks": t["masks"][:, :1]} for t in targets]
    torch.manual_seed(1)
    video_costs = point_matcher._mask_costs(
        one_frame["pred_masks"][0], one_frame_targets[0]["masks"].float()
    )
    torch.manual_seed(1)
    image_costs = point_matcher._mask_costs(
        pred["pred_masks"][0, :, 0], targets[0]["masks"][:, 0].float()
    )
    for a, b in zip(video_costs, image_costs):
        torch.testing.assert_close(a, b)


class _FixedMatcher(torch.nn.Module):
    def __init__(self, indices):
        super().__init__()
        self.indices = indices

    def forward(self, outputs, targets):
        return self.indices


def test_criterion_mask_losses_are_summed_over_frames():
    """Full-resolution mask losses of a clip of T frames are T times those of its frames as
    separate images with the same matches (each frame a mask of its own; the loss is divided
    by the number of objects, not of object-frames)."""
    torch.manual_seed(0)
    t_len = 3
    pred_masks = torch.randn(1, 4, t_len, 8, 8)
    logits = torch.randn(1, 4, 6)
    target = {"labels": torch.tensor([1, 4]), "masks": torch.rand(2, t_len, 16, 16) > 0.6}
    indices = [(torch.tensor([0, 3]), torch.tensor([1, 0]))]
    video = SetCriterion(5, _FixedMatcher(indices), {}, 0.1, num_points=0)
    losses = video({"pred_logits": logits, "pred_masks": pred_masks}, [target])

    image = SetCriterion(5, _FixedMatcher(indices * t_len), {}, 0.1, num_points=0)
    image_losses = image(
        {"pred_logits": logits.expand(t_len, -1, -1), "pred_masks": pred_masks[0].transpose(0, 1)},
        [{"labels": target["labels"], "masks": target["masks"][:, t]} for t in range(t_len)],
    )
    for name in ("loss_mask", "loss_dice"):
        torch.testing.assert_close(losses[name], t_len * image_losses[name])
    torch.testing.assert_close(losses["loss_ce"], image_losses["loss_ce"])
    with pytest.raises(ValueError, match="number of frames"):
        video({"pred_logits": logits, "pred_masks": pred_masks[:, :, :2]}, [target])


def test_point_sampled_criterion_of_one_frame_clips_is_the_image_criterion():
    torch.manual_seed(0)
    pred_masks = torch.randn(2, 4, 1, 8, 8)
    logits = torch.randn(2, 4, 6)
    targets = [
        {"labels": torch.tensor([1]), "masks": torch.rand(1, 1, 16, 16) > 0.5},
        {"labels": torch.tensor([2, 3]), "masks": torch.rand(2, 1, 16, 16) > 0.5},
    ]
    indices = [(torch.tensor([2]), torch.tensor([0])), (torch.tensor([0, 1]), torch.tensor([1, 0]))]
    criterion = SetCriterion(5, _FixedMatcher(indices), {}, 0.1, num_points=20)
    torch.manual_seed(3)
    video = criterion({"pred_logits": logits, "pred_masks": pred_masks}, targets)
    torch.manual_seed(3)
    image = criterion(
        {"pred_logits": logits, "pred_masks": pred_masks[:, :, 0]},
        [{"labels": t["labels"], "masks": t["masks"][:, 0]} for t in targets],
    )
    for name, value in image.items():
        torch.testing.assert_close(video[name], value)


def test_published_state_dict_loads_into_the_video_model():
    """A checkpoint saved from the image model of the same config loads into the video model
    with nothing missing or unexpected (the published video checkpoints share the layout)."""
    cfg = make_tiny_video_cfg()
    video = build_model(cfg)
    cfg.MODEL.META_ARCHITECTURE = "MaskFormer"
    cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME = "MultiScaleMaskedTransformerDecoder"
    image = build_model(cfg)
    result = video.load_state_dict(image.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
