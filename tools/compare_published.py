#!/usr/bin/env python
"""Same weights, same inputs: this project's model against the published Mask2Former code.

    python tools/compare_published.py --published-root PATH/TO/Mask2Former \
        --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml \
        [--task train] [--rounds 3]

PATH is a checkout of the published release (the folder that holds its ``mask2former``
package; e.g. github.com/facebookresearch/Mask2Former, or the sources of the ``maskformer2``
package on PyPI). Since both packages are called ``mask2former``, every measured model runs in a
process of its own: a first process builds this project's model from the config, perturbs its
random initial weights (so that no output is trivially zero) and saves them with the inputs;
then, ``--rounds`` times, one process per model loads those weights with ``strict=True`` and is
timed, the models alternating. The table gives the median over rounds of each process's median
time and the largest peak resident memory of its processes (``ru_maxrss`` when the timed work
ends: imports, model and inputs included; the interpreter's shutdown after it is not, see
docs/performance.md); a line after it lists every process's peak, round by round.

Models: the published code in float32; this project's model as ``build_model`` makes it (on the
CPU: channels-last weights, freed heap memory kept, see docs/performance.md) in float32 and under
bf16 autocast; for inference also in float32 with contiguous weights. ``--skip bf16`` leaves the
bf16 model out (slow where the CPU has no bf16 instructions), ``--skip contiguous`` the other.

- ``--task infer`` (default): one random image of ``--size`` pixels, ``torch.no_grad`` as in
  Detectron2's ``DefaultPredictor``; the largest difference of the semantic scores and the share
  of pixels with the same class against the published model are printed.
- ``--task train``: a step on ``--batch`` random images of ``--size`` pixels with five random
  segments each (``instances`` as the mask-former dataset mappers make them): forward, the sum of
  the weighted losses, backward and a step of the same plain ``torch.optim.AdamW`` for every
  model. Each step draws its random points from the same seed, so the first step's total loss of
  each model is printed beside the published one.

Where the published code cannot run as it is: its compiled deformable-attention module
(``MultiScaleDeformableAttention``) and Detectron2's compiled COCO evaluator are only imported at
module level, and on the CPU its deformable attention falls back to its PyTorch code, so empty
stand-ins are installed. For inference its training criterion is replaced by an empty module
(inference never calls it, and some repackagings construct it with arguments it does not take)
and the weights' ``criterion.*`` buffers are dropped accordingly. The published code's own
dependencies (timm) must be importable.

The config file is read once, in the parent process, by this project's safe loader (no Python
in it runs; ``mask2former.config.loader``), and every worker merges the flattened result.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types

import torch

# row name -> (worker, mode) for each task; the published model is the baseline of every ratio
MODELS = {
    "infer": {
        "ours float32": ("ours", "float32"),
        "ours bf16 autocast": ("ours", "bf16"),
        "ours float32 contiguous": ("ours", "contiguous"),
        "published float32": ("published", "float32"),
    },
    "train": {
        "ours float32": ("ours", "float32"),
        "ours bf16 autocast": ("ours", "bf16"),
        "published float32": ("published", "float32"),
    },
}
BASELINE = "published float32"
SEGMENTS_PER_IMAGE = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--published-root", required=True, help="folder holding the published mask2former package"
    )
    parser.add_argument(
        "--config-file", required=True, help="a config file or a shipped config's name"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of one-line errors"
    )
    parser.add_argument("--task", choices=tuple(MODELS), default="infer")
    parser.add_argument("--size", type=int, default=512, help="square input size")
    parser.add_argument("--batch", type=int, default=2, help="images per training step")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument(
        "--rounds", type=int, default=1, help="processes per model, the models alternating"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=("bf16", "contiguous"),
        help="models not to run (e.g. bf16 where the CPU has no bf16 instructions)",
    )
    parser.add_argument(
        "--worker", choices=("prepare", "ours", "published"), help=argparse.SUPPRESS
    )
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _cfg(config_file, extra_setup):
    from detectron2.config import get_cfg

    cfg = get_cfg()
    extra_setup(cfg)
    cfg.merge_from_file(config_file, allow_unsafe=False)  # flattened by flat_config()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    return cfg


def flat_config(config_file: str, workdir: str) -> str:
    """``config_file`` with its _BASE_ chain merged, read without running code, written as
    plain YAML into ``workdir``; returns its path."""
    import yaml

    from mask2former.config.loader import load_yaml_with_base

    path = os.path.join(workdir, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(load_yaml_with_base(config_file), f)
    return path


def prepare(args):
    """This project's model with perturbed weights, and the inputs, saved into the workdir."""
    from detectron2.modeling import build_model

    from mask2former import add_maskformer2_config

    cfg = _cfg(args.config_file, add_maskformer2_config)
    torch.manual_seed(0)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    torch.save(model.state_dict(), os.path.join(args.workdir, "weights.pth"))
    g = torch.Generator().manual_seed(1)
    count = args.batch if args.task == "train" else 1
    images = torch.randint(0, 256, (count, 3, args.size, args.size), dtype=torch.uint8, generator=g)
    # each pixel belongs to one of five segments of a coarse random grid; five distinct classes
    grid = torch.randint(0, SEGMENTS_PER_IMAGE, (count, 1, 8, 8), generator=g).float()
    segments = torch.nn.functional.interpolate(grid, size=(args.size,) * 2, mode="nearest")
    masks = segments[:, 0, None] == torch.arange(SEGMENTS_PER_IMAGE)[None, :, None, None]
    classes = torch.stack(
        [torch.randperm(cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, generator=g) for _ in range(count)]
    )[:, :SEGMENTS_PER_IMAGE]
    torch.save(
        {"images": images, "masks": masks, "classes": classes},
        os.path.join(args.workdir, "inputs.pth"),
    )


def _inputs(args, train):
    from detectron2.structures import Instances

    saved = torch.load(os.path.join(args.workdir, "inputs.pth"), weights_only=True)
    inputs = []
    for image, masks, classes in zip(saved["images"], saved["masks"], saved["classes"]):
        item = {"image": image, "height": args.size, "width": args.size}
        if train:
            keep = masks.flatten(1).any(1)  # a segment of the grid may be empty
            item["instances"] = Instances(
                image.shape[-2:], gt_classes=classes[keep], gt_masks=masks[keep]
            )
        inputs.append(item)
    return inputs


def _time_inference(model, inputs, runs, autocast):
    model.eval()
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
    with torch.no_grad(), ctx:
        out = model(inputs)[0]["sem_seg"].float()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)}, out


def _time_training(model, inputs, runs, autocast):
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    times = []
    for step in range(runs + 1):
        torch.manual_seed(step)  # the same random points for every model
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            losses = model(inputs)
        total = sum(losses.values())
        total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step == 0:
            first_loss = total.item()
        else:
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "first_loss": first_loss}, None


def _build_ours(args):
    from detectron2.modeling import build_model

    from mask2former import add_maskformer2_config

    model = build_model(_cfg(args.config_file, add_maskformer2_config))
    state = torch.load(os.path.join(args.workdir, "weights.pth"), weights_only=True)
    model.load_state_dict(state, strict=True)
    if args.mode == "contiguous":
        model = model.to(memory_format=torch.contiguous_format)
    return model


def _build_published(args):
    sys.modules.setdefault(
        "MultiScaleDeformableAttention", types.ModuleType("MultiScaleDeformableAttention")
    )
    fast_eval = types.ModuleType("detectron2.evaluation.fast_eval_api")
    fast_eval.COCOeval_opt = None
    sys.modules.setdefault("detectron2.evaluation.fast_eval_api", fast_eval)
    import importlib

    from detectron2.modeling import build_model
    from detectron2.projects.deeplab import add_deeplab_config

    import mask2former

    try:  # the release's module; the PyPI repackaging's
        published_model = importlib.import_module("mask2former.maskformer_model")
    except ModuleNotFoundError:
        published_model = importlib.import_module("mask2former.modeling.meta_arch.maskformer")

    if not os.path.abspath(mask2former.__file__).startswith(os.path.abspath(args.published_root)):
        raise SystemExit(f"--published-root: imported mask2former from {mask2former.__file__}")
    state = torch.load(os.path.join(args.workdir, "weights.pth"), weights_only=True)
    if args.task == "infer":
        published_model.SetCriterion = lambda *a, **k: torch.nn.Module()
        for key in [k for k in state if k.startswith("criterion.")]:
            del state[key]  # keeps state._metadata: the published head migrates keys by version

    def setup(cfg):
        add_deeplab_config(cfg)
        mask2former.add_maskformer2_config(cfg)

    model = build_model(_cfg(args.config_file, setup))
    model.load_state_dict(state, strict=True)
    return model


def run_worker(args):
    """One model, one mode: timed, its result (and inference output) saved in the workdir."""
    model = (_build_ours if args.worker == "ours" else _build_published)(args)
    train = args.task == "train"
    run = _time_training if train else _time_inference
    result, out = run(model, _inputs(args, train), args.runs, autocast=args.mode == "bf16")
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    name = f"{args.worker}-{args.mode}"
    if out is not None:
        torch.save(out, os.path.join(args.workdir, f"{name}.pth"))
    with open(os.path.join(args.workdir, f"{name}.json"), "w") as f:
        json.dump(result, f)


def check_arguments(args) -> None:
    """The config file resolved (a shipped config's name becomes its path), and the published
    root checked, before any worker starts; a mistake is a one-line ``UserError``."""
    from mask2former.errors import UsageError
    from mask2former.model_zoo import resolve_config_file

    args.config_file = resolve_config_file(args.config_file)
    if not os.path.isfile(os.path.join(args.published_root, "mask2former", "__init__.py")):
        raise UsageError(
            f"--published-root {args.published_root}: no mask2former/__init__.py there; pass "
            "the folder that holds the published mask2former package"
        )
    for flag in ("size", "batch", "runs", "rounds"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag} {getattr(args, flag)}: pass a positive number")


def _start_worker(args, workdir, config_file, worker, mode):
    """Runs one worker process (its results are left in the workdir)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--workdir", workdir]
    cmd += ["--mode", mode, "--task", args.task, "--published-root", args.published_root]
    cmd += ["--config-file", config_file, "--size", str(args.size), "--batch", str(args.batch)]
    cmd += ["--runs", str(args.runs)] + (["--threads", str(args.threads)] if args.threads else [])
    env = None
    if worker == "published":  # the published package comes first on its path
        path = [os.path.abspath(args.published_root), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    subprocess.run(cmd, env=env, check=True)


def _accuracy_rows(workdir, models):
    published = torch.load(os.path.join(workdir, "published-float32.pth"), weights_only=True)
    rows = []
    for name, (worker, mode) in models.items():
        if name == BASELINE or mode == "contiguous":
            continue
        ours = torch.load(os.path.join(workdir, f"{worker}-{mode}.pth"), weights_only=True)
        same_class = (ours.argmax(0) == published.argmax(0)).float().mean().item()
        rows.append(
            f"{name} vs published: max |diff| of sem_seg {(ours - published).abs().max().item():.3g}, "
            f"same class at {100 * same_class:.2f}% of pixels"
        )
    return rows


def _loss_rows(results):
    """Each model's first-step loss (of its last round) beside the published model's."""
    first_loss = {name: rounds[-1]["first_loss"] for name, rounds in results.items()}
    return [
        f"{name}: first-step total loss {first_loss[name]:.6g} (published {first_loss[BASELINE]:.6g})"
        for name in results
        if name != BASELINE
    ]


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker == "prepare":
        prepare(args)
        return 0
    if args.worker:
        run_worker(args)
        return 0
    check_arguments(args)
    models = {
        name: (worker, mode)
        for name, (worker, mode) in MODELS[args.task].items()
        if mode not in args.skip
    }
    results = {name: [] for name in models}  # each round's worker result, per model
    with tempfile.TemporaryDirectory() as workdir:
        config_file = flat_config(args.config_file, workdir)
        _start_worker(args, workdir, config_file, "prepare", "float32")
        for _ in range(args.rounds):
            for name, (worker, mode) in models.items():
                _start_worker(args, workdir, config_file, worker, mode)
                with open(os.path.join(workdir, f"{worker}-{mode}.json")) as f:
                    results[name].append(json.load(f))
        rows = _accuracy_rows(workdir, models) if args.task == "infer" else _loss_rows(results)
    median = {
        name: statistics.median(r["seconds"] for r in rounds) for name, rounds in results.items()
    }
    peaks = {name: [r["peak_mib"] for r in rounds] for name, rounds in results.items()}
    unit = "image" if args.task == "infer" else "step"
    inputs = (
        f"1x3x{args.size}x{args.size}"
        if args.task == "infer"
        else f"{args.batch}x3x{args.size}x{args.size}"
    )
    print(
        f"{args.config_file}, {args.task} {inputs}, {torch.get_num_threads()} threads, "
        f"median of {args.runs} runs, {args.rounds} round(s)"
    )
    print(f"| model | s / {unit} | speed-up vs published | peak MiB |\n|---|---|---|---|")
    for name in models:
        print(
            f"| {name} | {median[name]:.3f} | {median[BASELINE] / median[name]:.2f}x | {max(peaks[name]):.0f} |"
        )
    print("\n".join(rows))
    rounds = "; ".join(f"{name} {', '.join(f'{p:.0f}' for p in peaks[name])}" for name in models)
    print(f"peak MiB by round: {rounds}")
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        # a worker imports only its own side's mask2former package (both register the same
        # names in Detectron2's registries)
        sys.exit(main())
    from mask2former.cli import run_cli

    sys.exit(run_cli(main, prog="compare_published.py"))
