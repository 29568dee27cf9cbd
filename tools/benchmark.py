#!/usr/bin/env python
"""Speed and memory of a MaskFormer / Mask2Former config: inference (model forward plus
post-processing) and a full training step (forward, losses, backward, optimizer step).

    python tools/benchmark.py --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        --task infer --size 512 --iters 5 --reference

For every mode it prints the median time per iteration with its spread (min-max), images per
second, peak memory (resident set size on CPU, max allocated on CUDA) and the share of time in
backbone, pixel decoder, transformer decoder, loss and post-processing. ``--reference`` also runs
the identical model (same weights, same inputs) as the published code computes it
(``mask2former.utils.reference_model``: pure-PyTorch deformable attention, explicit attention,
attention masks from full-resolution predictions, no caches),
interleaving fast and reference iterations so that both see the same machine load, and reports
their ratio and the largest output difference. ``--amp`` adds a mixed-precision mode and
compares its outputs with the float32 ones.

Weights are random unless MODEL.WEIGHTS is given (``MODEL.WEIGHTS path`` at the end of the
command, or after ``--opts``): timings do not depend on them, accuracy comparisons of ``--amp``
on random weights are only indicative. The config is a file or a shipped config's name.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
import torch
from detectron2.modeling import build_model
from detectron2.structures import Instances

from mask2former import cli as cli_helpers
from mask2former.checkpoint import MaskFormerCheckpointer
from mask2former.checkpoint.fetch import fetch_weights
from mask2former.errors import UsageError
from mask2former.layers import use_reference_ops
from mask2former.solver import build_optimizer
from mask2former.utils.memory import Memory
from mask2former.utils.reference_model import reference_model
from mask2former.utils.timing import clock

PARTS = ("backbone", "pixel_decoder", "transformer_decoder", "loss", "postprocess")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("infer", "train", "both"), default="infer")
    parser.add_argument("--size", type=int, default=512, help="square input size (pixels)")
    parser.add_argument("--batch", type=int, default=1, help="images per forward pass")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--amp", choices=sorted(AMP_DTYPES), help="also run under autocast")
    parser.add_argument(
        "--reference", action="store_true", help="also run the reference model (same weights)"
    )
    parser.add_argument(
        "--contiguous",
        action="store_true",
        help="also run the fast mode with contiguous (NCHW) weights; the model's own layout is "
        "channels-last on the CPU",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations per mode")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per mode")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="with --amp: also evaluate DATASETS.TEST[0] in float32 and under autocast",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the results as JSON ('-': stdout)"
    )
    args = cli_helpers.add_config_arguments(parser).parse_args(argv)
    args.opts = cli_helpers.config_overrides(args)
    return args


def setup_cfg(args):
    cfg = cli_helpers.load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = args.device
    cli_helpers.check_device(
        cfg, fallback_to_cpu=False, setting="--device", cpu_hint="pass `--device cpu`"
    )
    if "MODEL.WEIGHTS" in args.opts[::2]:
        fetch_weights(cfg.MODEL.WEIGHTS)
    else:
        cfg.MODEL.WEIGHTS = ""  # timing does not need (unreachable) pretrained weights
    cfg.freeze()
    return cfg


def synthetic_inputs(batch: int, size: int, num_classes: int, seed: int = 0) -> List[Dict]:
    """Random images, each with a few rectangular segments of random classes as targets."""
    g = torch.Generator().manual_seed(seed)
    inputs = []
    for _ in range(batch):
        image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)
        num = 8
        masks = torch.zeros(num, size, size, dtype=torch.bool)
        for m in masks:
            y0, x0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
            h, w = torch.randint(size // 8, size // 2, (2,), generator=g).tolist()
            m[y0 : y0 + h, x0 : x0 + w] = True
        instances = Instances((size, size))
        instances.gt_classes = torch.randint(0, num_classes, (num,), generator=g)
        instances.gt_masks = masks
        inputs.append({"image": image, "height": size, "width": size, "instances": instances})
    return inputs


class PartTimer:
    """Wall time spent in the parts of the models, through forward hooks (and a wrapper around
    the meta-architecture's ``inference``), synchronizing CUDA at every boundary."""

    def __init__(self, models, device: str):
        self.device = device
        self.totals = defaultdict(float)
        self._start = {}
        for model in models:
            self._add(model)

    def _add(self, model):
        head = model.sem_seg_head
        modules = {"backbone": model.backbone, "loss": model.criterion}
        if hasattr(head, "pixel_decoder"):
            modules["pixel_decoder"] = head.pixel_decoder
        if hasattr(head, "predictor"):
            modules["transformer_decoder"] = head.predictor
        for name, module in modules.items():
            module.register_forward_pre_hook(self._enter(name))
            module.register_forward_hook(self._leave(name))
        if hasattr(head, "pixel_decoder"):
            # MaskFormerHead calls pixel_decoder.forward_features, which forward hooks miss
            self._wrap(head.pixel_decoder, "forward_features", "pixel_decoder")
        self._wrap(model, "inference", "postprocess")

    def _enter(self, name):
        return lambda *_: self._start.__setitem__(name, clock(self.device))

    def _leave(self, name):
        def hook(*_):
            self.totals[name] += clock(self.device) - self._start.pop(name)

        return hook

    def _wrap(self, obj, method: str, name: str):
        original = getattr(obj, method)

        def timed(*args, **kwargs):
            self._enter(name)()
            try:
                return original(*args, **kwargs)
            finally:
                self._leave(name)()

        setattr(obj, method, timed)

    def take(self) -> Dict[str, float]:
        totals, self.totals = dict(self.totals), defaultdict(float)
        return totals


class Mode:
    """One way of running the model: the model or its reference (``reference=True``: ``model``
    is the reference model), float32 or autocast."""

    def __init__(self, name: str, model, amp, memory_format, device: str, reference: bool = False):
        self.name, self.model, self.reference, self.amp = name, model, reference, amp
        self.memory_format, self.device = memory_format, device

    @contextlib.contextmanager
    def active(self, training: bool):
        self.model.to(memory_format=self.memory_format)
        self.model.train(training)
        grad_mode = (
            torch.enable_grad()
            if training
            else (torch.no_grad() if self.reference else torch.inference_mode())
        )
        autocast = torch.autocast(self.device, dtype=self.amp, enabled=self.amp is not None)
        with use_reference_ops(self.reference), grad_mode, autocast:
            yield


def memory_format_of(model) -> torch.memory_format:
    """channels_last when the model's first 4-D weight is stored channels-last."""
    weight = next(p for p in model.parameters() if p.dim() == 4)
    if not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def run_iteration(model, optimizer, inputs, training: bool):
    if not training:
        return model(inputs)
    losses = model(inputs)
    loss = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return losses


def outputs_of(results) -> Dict[str, torch.Tensor]:
    """The comparable tensors of inference results (first image)."""
    first = results[0]
    out = {}
    if "sem_seg" in first:
        out["sem_seg"] = first["sem_seg"].float()
    if "panoptic_seg" in first:
        out["panoptic_seg"] = first["panoptic_seg"][0].float()
    if "instances" in first:
        out["instance_scores"] = first["instances"].scores.float()
    return out


def compare(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Largest absolute difference per output, and for semantic scores the share of pixels whose
    predicted class (argmax) agrees."""
    diff = {}
    for key in a:
        if a[key].shape != b[key].shape:
            diff[key + "_max_abs_diff"] = float("inf")
            continue
        diff[key + "_max_abs_diff"] = (a[key] - b[key]).abs().max().item()
        if key == "sem_seg":
            agree = (a[key].argmax(0) == b[key].argmax(0)).float().mean().item()
            diff["sem_seg_argmax_agreement"] = agree
    return diff


def benchmark(args) -> Dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = setup_cfg(args)
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        MaskFormerCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    device = args.device
    num_classes = model.sem_seg_head.num_classes
    inputs = synthetic_inputs(args.batch, args.size, num_classes)
    layout = memory_format_of(model)  # build_model's: channels-last for the CPU
    modes = [Mode("fast", model, None, layout, device)]
    if args.contiguous:
        modes.append(Mode("fast+contiguous", model, None, torch.contiguous_format, device))
    if args.amp:
        modes.append(Mode(f"fast+{args.amp}", model, AMP_DTYPES[args.amp], layout, device))
    models = [model]
    if args.reference:
        # made before the timer wraps the model's methods (the copy would call the model's)
        models.append(reference_model(model))
        modes.append(Mode("reference", models[-1], None, layout, device, reference=True))
    tasks = ("infer", "train") if args.task == "both" else (args.task,)
    timer = PartTimer(models, device)
    memory = Memory(device)
    report = {
        "config": args.config_file,
        "size": args.size,
        "batch": args.batch,
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "results": [],
        "comparisons": {},
    }
    for task in tasks:
        training = task == "train"
        optimizer = build_optimizer(cfg, model) if training else None
        stats = {m.name: {"times": [], "parts": defaultdict(list)} for m in modes}
        outputs = {}
        for m in modes:  # warm-up, and the outputs compared below
            for _ in range(args.warmup):
                with m.active(training):
                    result = run_iteration(m.model, optimizer, inputs, training)
            if not training:
                outputs[m.name] = outputs_of(result)
            timer.take()
        for _ in range(args.iters):  # interleaved: every mode sees the same machine load
            for m in modes:
                with memory.peak(stats[m.name]), m.active(training):
                    start = clock(device)
                    run_iteration(m.model, optimizer, inputs, training)
                    stats[m.name]["times"].append(clock(device) - start)
                for part, seconds in timer.take().items():
                    stats[m.name]["parts"][part].append(seconds)
        for m in modes:
            times = stats[m.name]["times"]
            median = statistics.median(times)
            parts = {
                p: statistics.median(stats[m.name]["parts"][p]) / median
                for p in PARTS
                if p in stats[m.name]["parts"]
            }
            # training: backward and optimizer step; inference: preprocessing
            parts["other"] = max(0.0, 1.0 - sum(parts.values()))
            report["results"].append(
                {
                    "task": task,
                    "mode": m.name,
                    "median_s": median,
                    "min_s": min(times),
                    "max_s": max(times),
                    "images_per_s": args.batch / median,
                    "peak_mib": stats[m.name]["peak_mib"],
                    "share": parts,
                }
            )
        if not training:
            for m in modes[1:]:
                report["comparisons"][f"{m.name} vs fast"] = compare(
                    outputs["fast"], outputs[m.name]
                )
    if args.accuracy:
        report["amp_accuracy"] = evaluate_amp_accuracy(cfg, model, AMP_DTYPES[args.amp])
    return report


def evaluate_amp_accuracy(cfg, model, amp: torch.dtype) -> Dict[str, Dict]:
    """The config's evaluator on DATASETS.TEST[0], in float32 and under autocast."""
    import tempfile

    from detectron2.data import build_detection_test_loader
    from detectron2.evaluation import inference_on_dataset

    import mask2former.data  # noqa: F401 (registers the datasets)
    from mask2former.evaluation import build_evaluator

    name = cfg.DATASETS.TEST[0]
    loader = build_detection_test_loader(cfg, name)
    model.eval()
    metrics = {}
    for label, dtype in (("float32", None), (str(amp).replace("torch.", ""), amp)):
        with (
            tempfile.TemporaryDirectory() as tmp,
            torch.autocast(cfg.MODEL.DEVICE, dtype=dtype, enabled=dtype is not None),
        ):
            metrics[label] = inference_on_dataset(model, loader, build_evaluator(cfg, name, tmp))
    return {"dataset": name, "metrics": metrics}


def format_table(report: Dict) -> str:
    header = ["task", "mode", "median s", "min-max s", "img/s", "peak MiB", "x fast"]
    header += [p.replace("_", " ") for p in PARTS + ("other",)]
    rows = []
    fast = {r["task"]: r["median_s"] for r in report["results"] if r["mode"] == "fast"}
    for r in report["results"]:
        rows.append(
            [
                r["task"],
                r["mode"],
                f"{r['median_s']:.3f}",
                f"{r['min_s']:.3f}-{r['max_s']:.3f}",
                f"{r['images_per_s']:.2f}",
                f"{r['peak_mib']:.0f}",
                f"{r['median_s'] / fast[r['task']]:.2f}",
            ]
            + [
                f"{100 * r['share'][p]:.0f}%" if p in r["share"] else "-"
                for p in PARTS + ("other",)
            ]
        )
    lines = [
        f"{report['config']}  {report['batch']}x{report['size']}x{report['size']}  "
        f"{report['device']}, {report['threads']} threads, torch {report['torch']}",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    for name, diff in report["comparisons"].items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in diff.items()))
    if "amp_accuracy" in report:
        accuracy = report["amp_accuracy"]
        for label, results in accuracy["metrics"].items():
            summary = {
                f"{task}/{k}": v
                for task, values in results.items()
                for k, v in values.items()
                if k in ("mIoU", "PQ", "AP", "pACC")
            }
            lines.append(
                f"{accuracy['dataset']} {label}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in summary.items())
            )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.accuracy and not args.amp:
        raise UsageError("--accuracy compares float32 with --amp: give --amp bf16 or fp16")
    if args.json and args.json != "-":
        cli_helpers.check_output_dir(
            os.path.dirname(os.path.abspath(args.json)), "another `--json` path"
        )
    report = benchmark(args)
    print(format_table(report))
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


def cli(argv=None) -> int:
    """:func:`main` with the shared error convention (one line and exit status 2)."""
    return cli_helpers.run_cli(main, argv, prog="benchmark.py")


if __name__ == "__main__":
    sys.exit(cli())
