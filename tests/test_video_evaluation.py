"""Video AP / AR (YouTube-VIS's definition through COCOeval) against a hand-computed case and a
brute-force evaluation on decoded masks, and the evaluator's results file."""

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

from mask2former.video.data import register_ytvis_instances
from mask2former.video.evaluation import (
    YTVISEvaluator,
    evaluate_videos,
    spatio_temporal_iou,
    video_results,
)

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0, 1, 101)
AREAS = {
    "all": (0, 1e10),
    "small": (0, 128**2),
    "medium": (128**2, 256**2),
    "large": (256**2, 1e10),
}


def rle(mask: np.ndarray) -> dict:
    encoded = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    encoded["counts"] = encoded["counts"].decode("ascii")
    return encoded


def rect(h, w, y0, x0, y1, x1) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return mask


def ground_truth_json(videos, tracks, categories=(1, 2)):
    """videos: {id: (T, H, W)}; tracks: [(video, category, masks (T, H, W))]; empty frames are
    written as null, like YouTube-VIS."""
    return {
        "videos": [
            {
                "id": v,
                "length": t,
                "height": h,
                "width": w,
                "file_names": [f"{v}/{i}.jpg" for i in range(t)],
            }
            for v, (t, h, w) in videos.items()
        ],
        "categories": [{"id": c, "name": f"class{c}"} for c in categories],
        "annotations": [
            {
                "id": i + 1,
                "video_id": v,
                "category_id": c,
                "iscrowd": 0,
                "segmentations": [rle(m) if m.any() else None for m in masks],
            }
            for i, (v, c, masks) in enumerate(tracks)
        ],
    }


def predictions_json(detections):
    """detections: [(video, category, score, masks (T, H, W))]."""
    return [
        {"video_id": v, "category_id": c, "score": s, "segmentations": [rle(m) for m in masks]}
        for v, c, s, masks in detections
    ]


# ---- brute force: COCO's matching and accumulation, written out on decoded masks ----
def brute_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return (a & b).sum() / union if union else 0.0


def visible_mean_area(masks: np.ndarray) -> float:
    areas = masks.reshape(len(masks), -1).sum(1)
    return areas[areas > 0].mean() if (areas > 0).any() else 0.0


def brute_force_stats(gts, dts, max_dets):
    """AP over IoU 0.5:0.95 and AR per area range and AP50 / AP75, as COCO defines them.
    gts: [(video, category, masks)]; dts: [(video, category, score, masks)]."""
    categories = sorted({g[1] for g in gts} | {d[1] for d in dts})
    videos = sorted({g[0] for g in gts} | {d[0] for d in dts})
    results = {}
    for area_name, (low, high) in AREAS.items():
        for max_det in max_dets:
            precisions, recalls = {}, {}
            for t_index, threshold in enumerate(IOU_THRESHOLDS):
                for category in categories:
                    scored, num_gt = [], 0
                    for video in videos:
                        g = [x for x in gts if x[0] == video and x[1] == category]
                        d = [x for x in dts if x[0] == video and x[1] == category]
                        d = sorted(d, key=lambda x: -x[2])[:max_det]
                        ignored = [not (low <= visible_mean_area(x[2]) <= high) for x in g]
                        num_gt += ignored.count(False)
                        order = sorted(range(len(g)), key=lambda j: ignored[j])
                        matched = set()
                        for det in d:
                            best, best_iou = None, min(threshold, 1 - 1e-10)
                            for j in order:
                                if j in matched:
                                    continue
                                if best is not None and not ignored[best] and ignored[j]:
                                    break
                                iou = brute_iou(det[3], g[j][2])
                                if iou < best_iou:
                                    continue
                                best, best_iou = j, iou
                            if best is not None:
                                matched.add(best)
                                if not ignored[best]:
                                    scored.append((det[2], True))
                            elif low <= visible_mean_area(det[3]) <= high:
                                scored.append((det[2], False))
                    if num_gt == 0:
                        continue
                    scored.sort(key=lambda x: -x[0])
                    tp = np.cumsum([s[1] for s in scored])
                    fp = np.cumsum([not s[1] for s in scored])
                    recall = tp / num_gt
                    precision = tp / np.maximum(tp + fp, np.spacing(1))
                    precision = (
                        np.maximum.accumulate(precision[::-1])[::-1]
                        if len(precision)
                        else precision
                    )
                    sampled = [
                        precision[np.searchsorted(recall, r, side="left")]
                        if np.searchsorted(recall, r, side="left") < len(recall)
                        else 0.0
                        for r in RECALL_POINTS
                    ]
                    precisions[t_index, category] = np.mean(sampled)
                    recalls[t_index, category] = recall[-1] if len(recall) else 0.0
            results[area_name, max_det] = (precisions, recalls)

    def mean(values):
        return float(np.mean(list(values))) if values else -1.0

    top = max(max_dets)
    all_p, all_r = results["all", top]
    stats = {
        "AP": mean(all_p.values()),
        "AP50": mean(v for (t, _), v in all_p.items() if t == 0),
        "AP75": mean(v for (t, _), v in all_p.items() if t == 5),
    }
    for short, area_name in (("s", "small"), ("m", "medium"), ("l", "large")):
        stats["AP" + short] = mean(results[area_name, top][0].values())
        stats["AR" + short] = mean(results[area_name, top][1].values())
    for max_det in max_dets:
        stats[f"AR{max_det}"] = mean(results["all", max_det][1].values())
    return stats


def test_hand_computed_case():
    """One object in 2 frames; the prediction matches it in frame 0 and overlaps 60 of 100
    pixels in frame 1: IoU (100 + 60) / (100 + 140) = 2/3, so it counts at IoU thresholds
    0.5, 0.55, 0.6, 0.65: AP 0.4, AP50 1, AP75 0; a second, wrong-class prediction changes
    nothing."""
    gt = np.stack([rect(40, 40, 0, 0, 10, 10), rect(40, 40, 20, 20, 30, 30)])
    pred = np.stack([rect(40, 40, 0, 0, 10, 10), rect(40, 40, 20, 24, 30, 34)])
    assert spatio_temporal_iou([[rle(m) for m in pred]], [[rle(m) for m in gt]])[
        0, 0
    ] == pytest.approx(2 / 3)
    stats, _ = evaluate_videos(
        ground_truth_json({7: (2, 40, 40)}, [(7, 1, gt)]),
        predictions_json([(7, 1, 0.9, pred), (7, 2, 0.8, pred)]),
    )
    assert stats["AP"] == pytest.approx(0.4)
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == 0.0
    assert stats["APs"] == pytest.approx(0.4) and stats["APm"] == -1 and stats["APl"] == -1
    assert stats["AR1"] == pytest.approx(0.4)


def test_spatio_temporal_iou_is_brute_force_iou():
    rng = np.random.default_rng(0)
    masks = rng.random((5, 3, 20, 30)) < 0.3
    masks[1, 2] = False  # absent in a frame
    masks[4] = False  # never visible
    rles = [[rle(m) for m in track] for track in masks]
    ious = spatio_temporal_iou(rles[:3], rles)
    expected = np.array([[brute_iou(a, b) for b in masks] for a in masks[:3]])
    np.testing.assert_allclose(ious, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="different numbers of frames"):
        spatio_temporal_iou([rles[0][:2]], rles[1:2])


def _random_case(seed: int):
    """A few 3-frame 300x300 videos, 2 classes; objects of all three area ranges, some absent
    in a frame; predictions near the objects (some with the wrong class) and false ones."""
    rng = np.random.default_rng(seed)
    h = w = 300
    videos, gts, dts = {}, [], []
    for video in range(1, 5):
        videos[video] = (3, h, w)
        for _ in range(rng.integers(0, 4)):
            size = int(rng.choice([40, 150, 280]) * rng.uniform(0.8, 1.0))
            y, x = rng.integers(0, h - size + 1, 2)
            frames = np.stack(
                [rect(h, w, y + 4 * t, x, y + 4 * t + size, x + size) for t in range(3)]
            )
            if rng.random() < 0.3:
                frames[rng.integers(3)] = False
            category = int(rng.integers(1, 3))
            gts.append((video, category, frames))
            for _ in range(rng.integers(0, 3)):
                shift = rng.integers(-size // 3, size // 3 + 1, 2)
                moved = np.stack([np.roll(f, tuple(shift), axis=(0, 1)) for f in frames])
                dts.append(
                    (video, category if rng.random() < 0.8 else 3 - category, rng.random(), moved)
                )
        for _ in range(rng.integers(0, 3)):
            size = int(rng.integers(20, 200))
            y, x = rng.integers(0, h - size + 1, 2)
            frames = np.stack([rect(h, w, y, x, y + size, x + size)] * 3)
            dts.append((video, int(rng.integers(1, 3)), rng.random(), frames))
    return videos, gts, dts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_video_ap_equals_brute_force(seed):
    videos, gts, dts = _random_case(seed)
    stats, _ = evaluate_videos(ground_truth_json(videos, gts), predictions_json(dts))
    expected = brute_force_stats(gts, dts, max_dets=(1, 10, 100))
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=1e-12), name


def test_perfect_predictions_score_100_and_results_file(tmp_path):
    """Through the evaluator: the model's outputs (contiguous classes) for two videos; the
    results file holds dataset category ids and per-frame RLEs; ground-truth masks as
    predictions give AP 100."""
    videos = {3: (2, 30, 40), 5: (3, 30, 40)}
    gts = [
        (3, 2, np.stack([rect(30, 40, 0, 0, 10, 10), rect(30, 40, 1, 1, 11, 11)])),
        (5, 5, np.stack([rect(30, 40, 5, 5, 20, 20)] * 2 + [rect(30, 40, 0, 0, 0, 0)])),
    ]
    json_file = tmp_path / "gt.json"
    json_file.write_text(json.dumps(ground_truth_json(videos, gts, categories=(2, 5))))
    register_ytvis_instances(
        "test_ytvis_eval",
        {"thing_classes": ["a", "b"], "thing_dataset_id_to_contiguous_id": {2: 0, 5: 1}},
        str(json_file),
        str(tmp_path),
    )
    evaluator = YTVISEvaluator(
        "test_ytvis_eval", output_dir=str(tmp_path / "out"), distributed=False
    )
    evaluator.reset()
    for video, contiguous in ((3, 0), (5, 1)):
        masks = torch.from_numpy(next(g[2] for g in gts if g[0] == video))
        evaluator.process(
            [{"video_id": video}],
            {"pred_scores": [0.9], "pred_labels": [contiguous], "pred_masks": [masks]},
        )
    results = evaluator.evaluate()["segm"]
    assert results["AP"] == pytest.approx(100.0)
    assert results["AP-a"] == pytest.approx(100.0) and results["AP-b"] == pytest.approx(100.0)
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sorted((r["video_id"], r["category_id"]) for r in written) == [(3, 2), (5, 5)]
    decoded = mask_util.decode(written[1]["segmentations"])
    np.testing.assert_array_equal(decoded.transpose(2, 0, 1), gts[1][2])


def test_results_format_of_the_model_output():
    masks = torch.zeros(2, 3, 4, 5, dtype=torch.bool)
    masks[0, 1, 1:3, 2:4] = True
    results = video_results(
        9, {"pred_scores": [0.5, 0.25], "pred_labels": [3, 0], "pred_masks": list(masks)}
    )
    assert [(r["video_id"], r["score"], r["category_id"]) for r in results] == [
        (9, 0.5, 3),
        (9, 0.25, 0),
    ]
    assert all(
        isinstance(s["counts"], str) and s["size"] == [4, 5] for s in results[0]["segmentations"]
    )
    assert mask_util.area(results[0]["segmentations"]).tolist() == [0, 4, 0]


def test_split_without_annotations_only_writes_results(tmp_path):
    json_file = tmp_path / "test.json"
    gt = ground_truth_json({1: (1, 8, 8)}, [])
    del gt["annotations"]
    json_file.write_text(json.dumps(gt))
    register_ytvis_instances(
        "test_ytvis_noann",
        {"thing_classes": ["a", "b"], "thing_dataset_id_to_contiguous_id": {1: 0, 2: 1}},
        str(json_file),
        str(tmp_path),
    )
    evaluator = YTVISEvaluator("test_ytvis_noann", output_dir=str(tmp_path), distributed=False)
    evaluator.reset()
    evaluator.process(
        [{"video_id": 1}],
        {
            "pred_scores": [0.5],
            "pred_labels": [1],
            "pred_masks": [torch.ones(1, 8, 8, dtype=torch.bool)],
        },
    )
    assert evaluator.evaluate() == {}
    assert json.loads((tmp_path / "results.json").read_text())[0]["category_id"] == 2
