"""Video inference: the published output computed step by step from the network's outputs,
clip-wise inference equal to one pass on videos that fit in one clip, bounded clips on long
videos, and the linking of clips into tracks."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.modeling import build_model

from helpers.video import make_tiny_video_cfg, random_frames
from mask2former.video.modeling.clip_inference import LinkedTracks, clip_starts


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(make_tiny_video_cfg()).eval()


def _published_inference(model, frames, height, width, topk=10):
    """The published VideoMaskFormer inference: softmax scores without "no object", the top
    10 (query, class) pairs, every query's masks upsampled to the padded input, then the kept
    ones cropped, resized to the output size and thresholded at 0."""
    images = model.preprocess_frames(frames)
    with torch.no_grad():
        out = model.sem_seg_head(model.backbone(images.tensor))
    logits, masks = out["pred_logits"][0], out["pred_masks"][0]
    masks = F.interpolate(
        masks, size=images.tensor.shape[-2:], mode="bilinear", align_corners=False
    )
    num_classes = logits.shape[1] - 1
    scores = F.softmax(logits, dim=-1)[:, :-1]
    top_scores, index = scores.flatten().topk(topk)
    labels, queries = index % num_classes, index // num_classes
    h, w = images.image_sizes[0]
    kept = F.interpolate(
        masks[queries][:, :, :h, :w], size=(height, width), mode="bilinear", align_corners=False
    )
    return top_scores.tolist(), labels.tolist(), kept > 0


@pytest.mark.parametrize("size", [(64, 64), (50, 70)])
def test_one_pass_output_is_the_published_one(model, size):
    frames = random_frames(5, *size)
    out = model([{"image": frames, "height": 90, "width": 80}])
    scores, labels, masks = _published_inference(model, frames, 90, 80)
    assert out["image_size"] == (90, 80)
    assert out["pred_scores"] == pytest.approx(scores, abs=1e-6) and out["pred_labels"] == labels
    assert len(out["pred_masks"]) == 10
    assert all(m.dtype == torch.bool and m.shape == (5, 90, 80) for m in out["pred_masks"])
    assert torch.equal(torch.stack(out["pred_masks"]), masks)
    default_size = model([{"image": frames}])
    assert default_size["image_size"] == size and default_size["pred_masks"][0].shape == (5, *size)


@pytest.mark.parametrize("clip_length", [6, 8])
def test_clipwise_equals_one_pass_when_the_video_fits_in_a_clip(model, clip_length):
    frames = random_frames(6, seed=1)
    one_pass = model([{"image": frames, "height": 70, "width": 60}])
    model.clip_length, model.clip_overlap = clip_length, 2
    try:
        clipwise = model([{"image": frames, "height": 70, "width": 60}])
    finally:
        model.clip_length, model.clip_overlap = 0, 0
    assert clipwise["pred_scores"] == one_pass["pred_scores"]
    assert clipwise["pred_labels"] == one_pass["pred_labels"]
    assert all(torch.equal(a, b) for a, b in zip(clipwise["pred_masks"], one_pass["pred_masks"]))


def test_long_video_runs_in_clips_of_bounded_length(model):
    """Every forward pass sees at most CLIP_LENGTH frames; every frame gets masks."""
    seen = []
    handle = model.backbone.register_forward_hook(
        lambda m, args, out: seen.append(args[0].shape[0])
    )
    model.clip_length, model.clip_overlap = 4, 1
    progress = []
    try:
        out = model.inference_video(
            random_frames(11, seed=2), progress=lambda done, total: progress.append((done, total))
        )
    finally:
        model.clip_length, model.clip_overlap = 0, 0
        handle.remove()
    assert seen == [4, 4, 4, 4]  # clips at frames 0, 3, 6 and 7 (the last one full)
    assert progress == [(4, 11), (7, 11), (10, 11), (11, 11)]
    assert all(m.shape == (11, 64, 64) for m in out["pred_masks"])


def test_clip_starts():
    assert clip_starts(5, 8, 2) == [0]
    assert clip_starts(8, 8, 2) == [0]
    assert clip_starts(11, 4, 1) == [0, 3, 6, 7]
    assert clip_starts(12, 4, 0) == [0, 4, 8]
    assert clip_starts(13, 4, 0) == [0, 4, 8, 9]
    with pytest.raises(ValueError, match="CLIP_OVERLAP"):
        clip_starts(10, 4, 4)
    with pytest.raises(ValueError, match="CLIP_LENGTH"):
        clip_starts(10, 0, 0)


@pytest.mark.parametrize("overlap", [0, 2])
def test_linking_follows_objects_across_clips(overlap):
    """Tracks whose queries come in a different order in every clip are put back in order:
    by their embeddings (no overlap) or by their masks on the shared frames (the embeddings
    are then useless: all equal). Class probabilities and the masks of shared frames are
    averaged over the clips."""
    torch.manual_seed(0)
    q, num_frames, length = 5, 10, 4
    masks = torch.randn(q, num_frames, 6, 6) * 4  # the tracks' true mask logits
    class_logits = torch.randn(q, 4)
    embeds = torch.randn(q, 8) if overlap == 0 else torch.ones(q, 8)
    tracks = LinkedTracks(num_frames)
    starts = clip_starts(num_frames, length, overlap)
    orders = [torch.randperm(q) for _ in starts]
    for start, order in zip(starts, orders):
        clip_classes = class_logits[order] + 0.1 * torch.randn(q, 4)
        continues = tracks.add_clip(
            start, clip_classes, masks[order, start : start + length], embeds[order]
        )
        if start == 0:
            first = order
        # the clip's query that continues track j shows the object the first clip's query j showed
        assert order[continues].tolist() == first.tolist()
    torch.testing.assert_close(tracks.frame_logits(torch.arange(q), 0, num_frames), masks[first])
    assert tracks.num_clips == len(starts)
    assert tracks.class_prob.shape == (q, 3)
    # the mean over clips of each track's probabilities
    probs = F.softmax(class_logits[first], dim=-1)[:, :-1]
    torch.testing.assert_close(tracks.class_prob, probs, atol=0.1, rtol=0)


def test_shared_frames_average_the_clips():
    tracks = LinkedTracks(3)
    ones = torch.ones(2, 2, 1, 1)
    tracks.add_clip(
        0, torch.zeros(2, 3), ones * torch.tensor([1.0, 2.0])[:, None, None, None], torch.eye(2)
    )
    tracks.add_clip(
        1, torch.zeros(2, 3), ones * torch.tensor([3.0, 6.0])[:, None, None, None], torch.eye(2)
    )
    logits = tracks.frame_logits(torch.tensor([0, 1]), 0, 3)[:, :, 0, 0]
    torch.testing.assert_close(logits, torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]))
    with pytest.raises(ValueError, match="ends after"):
        tracks.add_clip(2, torch.zeros(2, 3), ones, torch.eye(2))


def test_inference_takes_one_video_of_one_frame_size(model):
    with pytest.raises(ValueError, match="one video per call"):
        model([{"image": random_frames(2)}, {"image": random_frames(2)}])
    with pytest.raises(ValueError, match="one size"):
        model([{"image": random_frames(1, 64, 64) + random_frames(1, 32, 64)}])
