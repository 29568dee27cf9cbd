#!/usr/bin/env python
"""What ``make quickstart`` runs: generate the "shapes" dataset (if absent), train Mask2Former on
it from scratch on the CPU, evaluate, print the metrics next to chance-level baselines, and draw
a few predictions next to their ground truth.

    python tools/quickstart.py [--task semantic|panoptic|instance] [--iters N] [KEY VALUE ...]

The dataset goes under $DETECTRON2_DATASETS (default ./datasets), the run under
output/quickstart/<task>/ (visualisations in its vis/ folder). With the default semantic task
the run fails (exit status 1) unless the model's mIoU clears --min-miou, far above what
constant or random predictions score on the generated data.
"""

import argparse
import os
import sys

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader
from detectron2.engine import default_setup
from detectron2.evaluation import SemSegEvaluator
from detectron2.utils.visualizer import ColorMode, Visualizer
from PIL import Image
from tabulate import tabulate

from mask2former import cli
from mask2former.data.datasets import check_datasets, datasets_root
from mask2former.data.shapes import generate
from mask2former.engine import Trainer
from mask2former.engine.visualization import draw_on_image, drawing_metadata
from mask2former.model_zoo import get_config_file
from mask2former.utils.cpu_training import train_from_scratch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("semantic", "panoptic", "instance")
# the headline metrics printed per result key of the evaluators
HEADLINE_METRICS = {
    "sem_seg": ("mIoU", "fwIoU", "mACC", "pACC"),
    "panoptic_seg": ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"),
    "segm": ("AP", "AP50", "AP75"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", choices=TASKS, default="semantic")
    parser.add_argument(
        "--iters", type=int, default=None, help="SOLVER.MAX_ITER (default: the config's)"
    )
    parser.add_argument("--num-vis", type=int, default=4, help="validation images to draw")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: the cores idle at start, at least 1; on a busy machine one "
        "thread is several times faster than threads that wait for each other)",
    )
    parser.add_argument(
        "--min-miou",
        type=float,
        default=50.0,
        help="semantic task: fail below this mIoU (constant or random predictions score 4-7)",
    )
    args = cli.add_config_arguments(parser, config_file=False).parse_args(argv)
    args.opts = cli.config_overrides(args)
    args.config_file = get_config_file(f"quickstart/{args.task}.yaml")
    return args


def setup(args):
    cfg = cli.load_config(args.config_file, args.opts)
    if args.iters is not None:
        cfg.SOLVER.MAX_ITER = args.iters
    if not os.path.isabs(cfg.OUTPUT_DIR):
        cfg.OUTPUT_DIR = os.path.join(REPO, cfg.OUTPUT_DIR)
    cli.check_device(cfg, fallback_to_cpu=False)
    check_datasets(cfg.DATASETS.TRAIN, "DATASETS.TRAIN")
    check_datasets(cfg.DATASETS.TEST, "DATASETS.TEST")
    cli.check_output_dir(cfg.OUTPUT_DIR, "`OUTPUT_DIR path/to/folder` at the end of the command")
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def _semantic_labels(record) -> np.ndarray:
    return np.array(Image.open(record["sem_seg_file_name"]), dtype=np.int64)


def semantic_chance_levels(dataset_name: str) -> dict:
    """mIoU of two prediction-free baselines on ``dataset_name``, by Detectron2's evaluator:
    the most frequent class everywhere, and a uniformly random class per pixel."""
    meta = MetadataCatalog.get(dataset_name)
    records = DatasetCatalog.get(dataset_name)
    num_classes = len(meta.stuff_classes)
    counts = np.zeros(num_classes, np.int64)
    for record in records:
        labels = _semantic_labels(record)
        counts += np.bincount(labels[labels != meta.ignore_label], minlength=num_classes)
    rng = np.random.default_rng(0)
    baselines = {
        "most frequent class": lambda shape: np.full(shape, counts.argmax()),
        "uniformly random class": lambda shape: rng.integers(0, num_classes, shape),
    }
    evaluator = SemSegEvaluator(dataset_name, distributed=False)
    levels = {}
    for name, predict in baselines.items():
        evaluator.reset()
        for record in records:
            labels = torch.from_numpy(predict(_semantic_labels(record).shape))
            scores = torch.nn.functional.one_hot(labels, num_classes).permute(2, 0, 1)
            evaluator.process([record], [{"sem_seg": scores}])
        levels[name] = evaluator.evaluate()["sem_seg"]["mIoU"]
    return levels


def metric_table(results: dict, chance: dict) -> str:
    rows = []
    for key, metrics in HEADLINE_METRICS.items():
        for metric in metrics:
            if metric in results.get(key, {}):
                row = [key, metric, f"{results[key][metric]:.2f}"]
                if chance:
                    row += [
                        f"{chance[b]:.2f}" if (key, metric) == ("sem_seg", "mIoU") else ""
                        for b in chance
                    ]
                rows.append(row)
    headers = ["task", "metric", "model"] + [f"chance: {b}" for b in chance]
    # disable_numparse: keep the two decimals of every figure ("4.50", not "4.5")
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _ground_truth_record(record: dict, task: str) -> dict:
    """The record with only the annotations of ``task``, for Visualizer.draw_dataset_dict."""
    keys = {
        "semantic": ("sem_seg_file_name",),
        "panoptic": ("pan_seg_file_name", "segments_info"),
        "instance": ("annotations",),
    }[task]
    drop = {"sem_seg_file_name", "pan_seg_file_name", "segments_info", "annotations"} - set(keys)
    return {k: v for k, v in record.items() if k not in drop}


def draw_examples(cfg, model, task: str, num_images: int) -> list:
    """Save image | ground truth | prediction strips of the first validation images as PNGs
    under OUTPUT_DIR/vis; returns their paths."""
    dataset_name = cfg.DATASETS.TEST[0]
    meta = MetadataCatalog.get(dataset_name)
    # the demo's drawing: class names and colours indexed by the model's labels
    predicted_meta = drawing_metadata(meta, cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES)
    records = {r["file_name"]: r for r in DatasetCatalog.get(dataset_name)}
    out_dir = os.path.join(cfg.OUTPUT_DIR, "vis")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    model.eval()
    with torch.no_grad():
        for inputs in build_detection_test_loader(cfg, dataset_name):
            if len(paths) == num_images:
                break
            (image_input,) = inputs
            output = model(inputs)[0]
            image = np.array(Image.open(image_input["file_name"]).convert("RGB"))
            gt = Visualizer(image, meta, instance_mode=ColorMode.SEGMENTATION)
            gt = gt.draw_dataset_dict(_ground_truth_record(records[image_input["file_name"]], task))
            pred = Visualizer(image, predicted_meta, instance_mode=ColorMode.SEGMENTATION)
            pred = draw_on_image(pred, output, task, confidence_threshold=0.5)
            strip = np.concatenate([image, gt.get_image(), pred.get_image()], axis=1)
            path = os.path.join(
                out_dir, os.path.splitext(os.path.basename(image_input["file_name"]))[0] + ".png"
            )
            Image.fromarray(strip).save(path)
            paths.append(path)
    return paths


def main(argv=None) -> int:
    args = parse_args(argv)
    root = datasets_root()
    print(f"shapes dataset: {generate(root)}")
    cfg = setup(args)
    trainer, results, minutes = train_from_scratch(Trainer, cfg, args.threads)
    model = trainer.model

    chance = semantic_chance_levels(cfg.DATASETS.TEST[0]) if args.task == "semantic" else {}
    vis = draw_examples(cfg, model, args.task, args.num_vis)

    print(
        f"\nMask2Former ({args.task}) trained from scratch for {cfg.SOLVER.MAX_ITER} iterations "
        f"on {cfg.DATASETS.TRAIN[0]}, evaluated on {cfg.DATASETS.TEST[0]} ({minutes:.1f} min):\n"
    )
    print(metric_table(results, chance))
    print(
        f"\nvisualisations (image | ground truth | prediction): {os.path.dirname(vis[0]) if vis else 'none'}"
    )
    print(f"checkpoint: {os.path.join(cfg.OUTPUT_DIR, 'model_final.pth')}")
    if args.task == "semantic":
        miou = results["sem_seg"]["mIoU"]
        if miou < args.min_miou:
            print(
                f"FAILED: mIoU {miou:.2f} is below {args.min_miou} (chance: {max(chance.values()):.2f})"
            )
            return 1
        print(
            f"OK: mIoU {miou:.2f} (bar {args.min_miou}; chance level at most {max(chance.values()):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_cli(main, prog="quickstart.py"))
