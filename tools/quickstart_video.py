#!/usr/bin/env python
"""What ``make quickstart-video`` runs: generate the shapes videos (if absent), train the video
model on them from scratch on the CPU, evaluate it on the validation videos in one pass and
clip by clip, and print its video AP next to chance-level baselines.

    python tools/quickstart_video.py [--iters N] [--min-ap AP] [KEY VALUE ...]

The dataset goes under $DETECTRON2_DATASETS (default ./datasets), the run under
output/quickstart/video/. Fails (exit status 1) unless the one-pass video AP clears --min-ap.
"""

import argparse
import json
import os
import sys

import numpy as np
import pycocotools.mask as mask_util
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.engine import default_setup
from detectron2.evaluation import inference_on_dataset
from tabulate import tabulate

from mask2former.config import merge_config
from mask2former.data.datasets import datasets_root
from mask2former.data.shapes_video import generate_videos
from mask2former.model_zoo import get_config_file
from mask2former.utils.cpu_training import train_from_scratch
from mask2former.video import add_video_model_config
from mask2former.video.evaluation import YTVISEvaluator, evaluate_videos
from mask2former.video.evaluation.video_ap import frame_rles
from mask2former.video.trainer import VideoTrainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = get_config_file("quickstart/video.yaml")
METRICS = ("AP", "AP50", "AP75", "AR1", "AR10")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iters", type=int, default=None, help="SOLVER.MAX_ITER (default: the config's)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: idle cores, at least 1)"
    )
    parser.add_argument("--min-ap", type=float, default=30.0, help="fail below this video AP")
    parser.add_argument(
        "--clip-length", type=int, default=4, help="clip length of the clip-wise evaluation"
    )
    parser.add_argument(
        "--clip-overlap", type=int, default=1, help="clip overlap of the clip-wise evaluation"
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def setup(args):
    cfg = get_cfg()
    add_video_model_config(cfg)
    merge_config(cfg, CONFIG, args.opts)
    if args.iters is not None:
        cfg.SOLVER.MAX_ITER = args.iters
    if not os.path.isabs(cfg.OUTPUT_DIR):
        cfg.OUTPUT_DIR = os.path.join(REPO, cfg.OUTPUT_DIR)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def _resized_track(rles, height: int, width: int, length: int, rng) -> list:
    """A ground-truth track moved to another video: masks resized to its frame size and a
    random stretch of ``length`` frames (repeating frames if the track is shorter)."""
    masks = mask_util.decode(rles).transpose(2, 0, 1)  # (T, h, w)
    start = rng.integers(max(len(masks) - length, 0) + 1)
    frames = [masks[min(start + i, len(masks) - 1)] for i in range(length)]
    ys = (np.arange(height) * masks.shape[1] / height).astype(int)
    xs = (np.arange(width) * masks.shape[2] / width).astype(int)
    return [np.asfortranarray(f[ys][:, xs]) for f in frames]


def chance_levels(ground_truth: dict, seed: int = 0) -> dict:
    """{baseline: {metric: value in percent}} of prediction-free baselines on
    ``ground_truth`` (a YouTube-VIS dict):
    - "whole frames": per video, one prediction per class covering every frame entirely;
    - "tracks of other videos": per video, 10 ground-truth tracks of other videos (resized,
      random class and score): realistic shapes and motion, but not where the objects are."""
    rng = np.random.default_rng(seed)
    classes = [c["id"] for c in ground_truth["categories"]]
    tracks = {}
    for ann in ground_truth["annotations"]:
        video = next(v for v in ground_truth["videos"] if v["id"] == ann["video_id"])
        tracks.setdefault(ann["video_id"], []).append(
            frame_rles(ann["segmentations"], video["height"], video["width"])
        )
    levels = {}
    whole = []
    for video in ground_truth["videos"]:
        full = mask_util.encode(
            np.ones((video["height"], video["width"], video["length"]), np.uint8, order="F")
        )
        whole += [
            {"video_id": video["id"], "category_id": c, "score": 1.0, "segmentations": full}
            for c in classes
        ]
    levels["whole frames"] = evaluate_videos(ground_truth, whole)[0]
    others = []
    for video in ground_truth["videos"]:
        pool = [t for v, ts in tracks.items() if v != video["id"] for t in ts]
        for i in rng.permutation(len(pool))[:10]:
            masks = _resized_track(pool[i], video["height"], video["width"], video["length"], rng)
            others.append(
                {
                    "video_id": video["id"],
                    "category_id": int(rng.choice(classes)),
                    "score": float(rng.random()),
                    "segmentations": [mask_util.encode(m[:, :, None])[0] for m in masks],
                }
            )
    levels["tracks of other videos"] = evaluate_videos(ground_truth, others)[0]
    return {
        name: {m: max(v, 0.0) * 100 for m, v in stats.items()} for name, stats in levels.items()
    }


def evaluate_clipwise(cfg, model, clip_length: int, clip_overlap: int) -> dict:
    """The trained model's video AP with clip-wise inference."""
    model.clip_length, model.clip_overlap = clip_length, clip_overlap
    try:
        dataset = cfg.DATASETS.TEST[0]
        evaluator = YTVISEvaluator(
            dataset, os.path.join(cfg.OUTPUT_DIR, "inference_clips"), distributed=False
        )
        return inference_on_dataset(model, VideoTrainer.build_test_loader(cfg, dataset), evaluator)[
            "segm"
        ]
    finally:
        model.clip_length, model.clip_overlap = (
            cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH,
            cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP,
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"shapes videos: {generate_videos(datasets_root())}")
    cfg = setup(args)
    trainer, results, minutes = train_from_scratch(VideoTrainer, cfg, args.threads)
    one_pass = results["segm"]
    clips = evaluate_clipwise(cfg, trainer.model, args.clip_length, args.clip_overlap)
    with open(MetadataCatalog.get(cfg.DATASETS.TEST[0]).json_file) as f:
        chance = chance_levels(json.load(f))

    rows = [["one pass"] + [f"{one_pass[m]:.2f}" for m in METRICS]]
    rows.append(
        [f"clips of {args.clip_length}, overlap {args.clip_overlap}"]
        + [f"{clips[m]:.2f}" for m in METRICS]
    )
    rows += [
        [f"chance: {name}"] + [f"{stats[m]:.2f}" for m in METRICS] for name, stats in chance.items()
    ]
    print(
        f"\nVideo Mask2Former trained from scratch for {cfg.SOLVER.MAX_ITER} iterations on "
        f"{cfg.DATASETS.TRAIN[0]}, evaluated on {cfg.DATASETS.TEST[0]} ({minutes:.1f} min):\n"
    )
    print(
        tabulate(
            rows, headers=["inference"] + list(METRICS), tablefmt="github", disable_numparse=True
        )
    )
    print(f"checkpoint: {os.path.join(cfg.OUTPUT_DIR, 'model_final.pth')}")
    best_chance = max(stats["AP"] for stats in chance.values())
    if one_pass["AP"] < args.min_ap:
        print(
            f"FAILED: video AP {one_pass['AP']:.2f} is below {args.min_ap} (chance: {best_chance:.2f})"
        )
        return 1
    print(
        f"OK: video AP {one_pass['AP']:.2f} (bar {args.min_ap}; chance level at most {best_chance:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
