#!/usr/bin/env python
"""Same weights, same image: this project's model against the published Mask2Former code.

    python tools/compare_published.py --published-root PATH/TO/Mask2Former \
        --config-file configs/ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml

PATH is a checkout of the published release (the folder that holds its ``mask2former``
package; e.g. github.com/facebookresearch/Mask2Former, or the sources of the ``maskformer2``
package on PyPI). Each side runs in its own process, since both packages are called
``mask2former``. This project's model is built from the config, its random initial weights are
perturbed (so that no output is trivially zero) and saved; the published model loads that file
with ``strict=True``. Both run inference on one random image; the script prints the largest
difference of the semantic scores, the share of pixels with the same class, and the median time
per image (``torch.no_grad``, as Detectron2's ``DefaultPredictor``) of the published model and of
this project's model as ``build_model`` makes it (on the CPU: channels-last weights, freed heap
memory kept, see docs/performance.md) in float32 and under bf16 autocast, and in float32 with
contiguous weights. The published code's own dependencies (timm) must be importable.

Where the published code cannot run as it is: its compiled deformable-attention module
(``MultiScaleDeformableAttention``) and Detectron2's compiled COCO evaluator are only imported
at module level, never used on the CPU inference path, so empty stand-ins are installed; its
training criterion is replaced by an empty module (inference never calls it, and some
repackagings construct it with arguments it does not take), and the weights' ``criterion.*``
buffers are dropped accordingly.

The config file is read once, in the parent process, by this project's safe loader (no Python
in it runs; ``mask2former.config.loader``), and both workers merge the flattened result.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

import torch


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
    parser.add_argument("--size", type=int, default=512, help="square input size")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--worker", choices=("ours", "published"), help=argparse.SUPPRESS)
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


def _median_time(model, inputs, runs, autocast=False):
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
    with torch.no_grad(), ctx:
        out = model(inputs)[0]["sem_seg"].float()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def run_ours(args):
    from detectron2.modeling import build_model

    from mask2former import add_maskformer2_config

    cfg = _cfg(args.config_file, add_maskformer2_config)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    torch.save(model.state_dict(), os.path.join(args.workdir, "weights.pth"))
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (3, args.size, args.size), dtype=torch.uint8, generator=g)
    torch.save(image, os.path.join(args.workdir, "image.pth"))
    inputs = [{"image": image, "height": args.size, "width": args.size}]
    timings = {}
    # the model as build_model makes it for the CPU (channels-last weights; freed heap kept
    # since the import of mask2former), and the same weights contiguous for comparison
    out, timings["ours float32"] = _median_time(model, inputs, args.runs)
    torch.save(out, os.path.join(args.workdir, "ours.pth"))
    bf16, timings["ours bf16 autocast"] = _median_time(model, inputs, args.runs, autocast=True)
    torch.save(bf16, os.path.join(args.workdir, "ours_bf16.pth"))
    model = model.to(memory_format=torch.contiguous_format)
    _, timings["ours float32 contiguous"] = _median_time(model, inputs, args.runs)
    return timings


def run_published(args):
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
    published_model.SetCriterion = lambda *a, **k: torch.nn.Module()

    def setup(cfg):
        add_deeplab_config(cfg)
        mask2former.add_maskformer2_config(cfg)

    model = build_model(_cfg(args.config_file, setup)).eval()
    state = torch.load(os.path.join(args.workdir, "weights.pth"), weights_only=True)
    for key in [k for k in state if k.startswith("criterion.")]:
        del state[key]  # keeps state._metadata: the published head migrates keys by version
    model.load_state_dict(state, strict=True)
    image = torch.load(os.path.join(args.workdir, "image.pth"), weights_only=True)
    inputs = [{"image": image, "height": args.size, "width": args.size}]
    out, seconds = _median_time(model, inputs, args.runs)
    torch.save(out, os.path.join(args.workdir, "published.pth"))
    return {"published float32": seconds}


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


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        timings = (run_ours if args.worker == "ours" else run_published)(args)
        with open(os.path.join(args.workdir, f"{args.worker}.json"), "w") as f:
            json.dump(timings, f)
        return 0
    check_arguments(args)
    with tempfile.TemporaryDirectory() as workdir:
        timings = {}
        config_file = flat_config(args.config_file, workdir)
        for worker in ("ours", "published"):
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                worker,
                "--workdir",
                workdir,
            ]
            cmd += ["--published-root", args.published_root, "--config-file", config_file]
            cmd += ["--size", str(args.size), "--runs", str(args.runs)]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            # the published worker imports the published package: its root comes first on the path
            env = (
                dict(
                    os.environ,
                    PYTHONPATH=os.pathsep.join(
                        [os.path.abspath(args.published_root), os.environ.get("PYTHONPATH", "")]
                    ),
                )
                if worker == "published"
                else None
            )
            subprocess.run(cmd, check=True, env=env)
            with open(os.path.join(workdir, f"{worker}.json")) as f:
                timings.update(json.load(f))
        published = torch.load(os.path.join(workdir, "published.pth"), weights_only=True)
        rows = []
        for name, file in (("ours float32", "ours.pth"), ("ours bf16 autocast", "ours_bf16.pth")):
            ours = torch.load(os.path.join(workdir, file), weights_only=True)
            same_class = (ours.argmax(0) == published.argmax(0)).float().mean().item()
            rows.append(
                f"{name} vs published: max |diff| of sem_seg {(ours - published).abs().max().item():.3g}, "
                f"same class at {100 * same_class:.2f}% of pixels"
            )
    base = timings["published float32"]
    print(
        f"{args.config_file}, 1x3x{args.size}x{args.size}, {torch.get_num_threads()} threads, median of {args.runs}"
    )
    print("| model | s / image | speed-up vs published |\n|---|---|---|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.3f} | {base / seconds:.2f}x |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        # a worker imports only its own side's mask2former package (both register the same
        # names in Detectron2's registries)
        sys.exit(main())
    from mask2former.cli import run_cli

    sys.exit(run_cli(main, prog="compare_published.py"))
