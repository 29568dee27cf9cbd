#!/usr/bin/env python
"""Run a MaskFormer / Mask2Former model on images, a video or a webcam and draw its predictions.

    python demo/demo.py --input a.jpg "photos/*.png" --output out/
    python demo/demo.py --config-file CFG --input a.jpg --output out/ MODEL.WEIGHTS model.pth
    python demo/demo.py --config-file CFG --video-input v.mp4 --output out.mp4 [KEY VALUE ...]
    python demo/demo.py --config-file CFG --webcam [--output webcam.mp4] [KEY VALUE ...]

CFG is a config file or the name of a shipped config (``ade20k/swin_L.yaml``). A published
config without ``MODEL.WEIGHTS`` on the command line runs the model zoo's trained weights for
it, downloaded once into Detectron2's cache; without ``--config-file`` the demo runs
DEFAULT_CONFIG (see ``--help``). Unreadable inputs are reported one line each and skipped; the
exit status is non-zero when any input failed.
"""

import argparse
import logging
import os
import sys
import time
from typing import Iterator, List, Optional, Tuple

import mask2former  # noqa: F401  (before detectron2: it silences fvcore's import-time warnings)

# isort: split
import cv2
import numpy as np
import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mask2former import model_zoo
from mask2former.cli import (
    add_config_arguments,
    check_output_dir,
    config_overrides,
    run_cli,
    split_trailing_overrides,
)
from mask2former.commands.inference import expand_inputs, inference_config
from mask2former.data.image_io import read_image_checked
from mask2former.engine.visualization import (
    DRAWINGS,
    SEMANTIC_AND_INSTANCE,
    VisualizationDemo,
    check_task,
)
from mask2former.errors import UsageError

logger = logging.getLogger("demo")

WINDOW_NAME = "mask2former demo"
ESC_KEY = 27
VIDEO_FOURCC = "mp4v"
# the config run without --config-file (why this one: _default_config_help, shown by --help)
DEFAULT_CONFIG = "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml"
WEIGHTS_HINT = (
    "`MODEL.WEIGHTS path/to/model_final.pth` (`--random-weights` runs an untrained model)"
)


def _default_config_help() -> str:
    entry = model_zoo.get_checkpoint(DEFAULT_CONFIG)
    metrics = ", ".join(f"{k} {v}" for k, v in entry["metrics"].items())
    return (
        f"Without --config-file the demo runs {DEFAULT_CONFIG}: {entry['method']} "
        f"{entry['backbone']} trained on {entry['dataset']} {entry['task']} segmentation "
        f"({metrics}). Its 133 everyday classes (people, vehicles, animals, furniture, sky, "
        "road, ...) fit most photographs, a panoptic model draws things and stuff, and R50 is "
        "the release's smallest backbone, the quickest to download and to run on a CPU. A "
        "published config given without MODEL.WEIGHTS runs the model zoo's trained weights "
        "for it, downloaded once into Detectron2's cache ($FVCORE_CACHE, default "
        "~/.torch/iopath_cache). Config overrides (KEY VALUE ...) go at the end of the "
        "command or after --opts."
    )


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog=_default_config_help()
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        nargs="+",
        help="image files, folders (their images) or quoted glob patterns ('dir/*.png')",
    )
    source.add_argument("--video-input", metavar="VIDEO", help="a video file")
    source.add_argument("--webcam", action="store_true", help="the first webcam")
    parser.add_argument(
        "--output",
        help="a file (one input) or a folder to write drawings to; without it the results "
        "are shown in a window, which needs a display",
    )
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=0.5,
        help="instances scoring below it are not drawn",
    )
    parser.add_argument(
        "--task",
        choices=("auto",) + DRAWINGS,
        default="auto",
        help="which result to draw; auto: the first of panoptic, instance, semantic that the "
        "config turns on; semantic+instance: instances over the semantic map, as the published "
        "demo draws a model without panoptic results",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="run with random weights instead of MODEL.WEIGHTS (for testing; output is noise)",
    )
    return add_config_arguments(parser, default_config=DEFAULT_CONFIG)


def setup_cfg(config_file: str, opts: List[str], random_weights: bool = False, task: str = "auto"):
    """The frozen config of the demo (:func:`~mask2former.commands.inference.inference_config`),
    ``task`` checked before the weights."""
    return inference_config(
        config_file, opts, WEIGHTS_HINT, random_weights, check=lambda cfg: check_task(cfg, task)
    )


def has_display() -> bool:
    """Whether a window can be opened: a display server is named and OpenCV was built with a
    GUI backend (opencv-python-headless has none)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() != "NONE"
    return False


def _is_folder(output: str) -> bool:
    """Whether --output names a folder: an existing one, or a path ending in a separator or
    without a file extension."""
    if os.path.isdir(output) or output.endswith(("/", os.sep)):
        return True
    return not os.path.splitext(output)[1]


def image_destinations(paths: List[str], output: str) -> List[str]:
    """Where the drawing of each input goes: ``output`` itself for one input and a file name,
    else ``output/<input file name>`` (a suffix ``_1``, ``_2``... keeps names unique; inputs
    whose format OpenCV cannot write get ``.png``)."""
    if not _is_folder(output):
        if len(paths) > 1:
            raise UsageError(
                f"--output {output} names a file, but {len(paths)} inputs need a folder"
            )
        if not cv2.haveImageWriter(output):
            raise UsageError(f"--output {output}: OpenCV cannot write this image format")
        return [output]
    destinations, used = [], set()
    for path in paths:
        stem, ext = os.path.splitext(os.path.basename(path))
        if not cv2.haveImageWriter("x" + ext):
            ext = ".png"
        name, n = stem + ext, 0
        while name in used:
            n += 1
            name = f"{stem}_{n}{ext}"
        used.add(name)
        destinations.append(os.path.join(output, name))
    return destinations


def _count(n: int, noun: str) -> str:
    """'1 class', '2 classes', '1 panoptic segment'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def _describe(task: str, predictions: dict, confidence_threshold: float) -> str:
    if task == SEMANTIC_AND_INSTANCE:
        return ", ".join(
            _describe(part, predictions, confidence_threshold) for part in ("semantic", "instance")
        )
    if task == "panoptic":
        return _count(len(predictions["panoptic_seg"][1]), "panoptic segment")
    if task == "instance":
        scores = predictions["instances"].scores
        return _count(int((scores >= confidence_threshold).sum()), "instance")
    return _count(len(predictions["sem_seg"].argmax(dim=0).unique()), "class")


def run_images(demo: VisualizationDemo, paths: List[str], destinations: List[Optional[str]]) -> int:
    """Draws every image of ``paths`` to its destination (None: shows it in a window);
    returns how many of them failed."""
    failures = 0
    progress = tqdm.tqdm(paths, unit="image", disable=len(paths) < 2)
    for path, destination in zip(progress, destinations):
        try:
            image = read_image_checked(path, format="BGR")
        except OSError as e:  # read_image_checked: FileNotFoundError or ImageReadError
            logger.error(f"skipped {path}: {e}")
            failures += 1
            continue
        start = time.perf_counter()
        predictions, vis = demo.run_on_image(image)
        drawing = np.ascontiguousarray(vis.get_image()[:, :, ::-1])
        task = demo.task_of(predictions)
        logger.info(
            f"{path}: {_describe(task, predictions, demo.confidence_threshold)} "
            f"in {time.perf_counter() - start:.2f}s"
        )
        if destination is None:
            cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
            cv2.imshow(WINDOW_NAME, drawing)
            if cv2.waitKey(0) == ESC_KEY:
                break
        elif not cv2.imwrite(destination, drawing):
            logger.error(f"could not write {destination}")
            failures += 1
    if None in destinations:
        cv2.destroyAllWindows()
    return failures


def read_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """The BGR frames of an opened capture, until it has no more."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _capture_geometry(capture: cv2.VideoCapture) -> Tuple[float, int, int]:
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not fps or fps != fps or fps <= 0:  # some webcams and containers report none
        logger.warning("the video reports no frame rate: writing 30 fps")
        fps = 30.0
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return fps, width, height


def run_stream(
    demo: VisualizationDemo,
    capture: cv2.VideoCapture,
    destination: Optional[str],
    show: bool,
) -> Tuple[int, bool]:
    """Draws every frame of ``capture``; writes them to ``destination`` (same frame rate and
    size) and/or shows them. Esc in the window or Ctrl-C stops early, leaving a valid file.

    Returns:
        the number of frames drawn and whether it was stopped by Ctrl-C.
    """
    fps, width, height = _capture_geometry(capture)
    writer = None
    if destination:
        parent = os.path.dirname(destination)
        if parent:
            os.makedirs(parent, exist_ok=True)
        writer = cv2.VideoWriter(
            destination, cv2.VideoWriter_fourcc(*VIDEO_FOURCC), fps, (width, height)
        )
        if not writer.isOpened():
            raise OSError(f"cannot write video {destination}")
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    drawn, interrupted = 0, False
    start = time.perf_counter()
    try:
        drawings = demo.run_on_video(read_frames(capture))
        for drawing in tqdm.tqdm(drawings, total=total if total > 0 else None, unit="frame"):
            drawn += 1
            if writer is not None:
                writer.write(drawing)
            if show:
                cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_NORMAL)
                cv2.imshow(WINDOW_NAME, drawing)
                if cv2.waitKey(1) == ESC_KEY:
                    break
    except KeyboardInterrupt:
        interrupted = True
        logger.info("interrupted (Ctrl-C): stopping")
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
    if drawn:
        seconds = time.perf_counter() - start
        logger.info(f"{drawn} frames in {seconds:.1f}s ({seconds / drawn:.2f}s per frame)")
    if 0 < drawn < total and not interrupted:
        logger.warning(f"only {drawn} of {total} frames could be decoded")
    return drawn, interrupted


def video_destination(video_path: str, output: str) -> str:
    if _is_folder(output):
        stem = os.path.splitext(os.path.basename(video_path))[0]
        return os.path.join(output, stem + ".mp4")
    return output


def _check_output(output: str) -> None:
    """--output can be written: the folder itself, or the folder of a file."""
    folder = output if _is_folder(output) else (os.path.dirname(output) or ".")
    check_output_dir(folder, "another `--output`")


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the demo; returns the exit status (0: every input was drawn, 1: some input
    failed). Unusable arguments, config, weights or output raise a ``UserError`` (exit status
    2 through :func:`cli`)."""
    args = get_parser().parse_args(argv)
    inputs, trailing = split_trailing_overrides(args.input) if args.input else ([], [])
    opts = config_overrides(args, trailing)
    show = args.output is None
    if show and not has_display():
        raise UsageError(
            "no display to show results on (no DISPLAY/WAYLAND_DISPLAY, or OpenCV without GUI "
            "support such as opencv-python-headless): pass --output FILE_OR_FOLDER"
        )
    if args.input:
        paths, unmatched = expand_inputs(inputs)
        for pattern in unmatched:
            logger.error(f"--input {pattern}: no such file (or no image in that folder)")
        if not paths:
            return 1
        destinations = (
            image_destinations(paths, args.output) if args.output else [None] * len(paths)
        )
    else:
        capture = cv2.VideoCapture(args.video_input if args.video_input else 0)
        if not capture.isOpened():
            logger.error(f"cannot open video {args.video_input}" if args.video_input
                         else "cannot open the webcam (device 0)")  # fmt: skip
            return 1
        destination = None
        if args.output:
            destination = video_destination(args.video_input or "webcam.mp4", args.output)
    if args.output:
        _check_output(destination if not args.input else args.output)

    cfg = setup_cfg(args.config_file, opts, args.random_weights, args.task)
    demo = VisualizationDemo(
        cfg,
        task=args.task,
        confidence_threshold=args.confidence_threshold,
        random_weights=args.random_weights,
        weights_hint=WEIGHTS_HINT,
    )

    with logging_redirect_tqdm():
        if args.input:
            if args.output and _is_folder(args.output):
                os.makedirs(args.output, exist_ok=True)
            failures = len(unmatched) + run_images(demo, paths, destinations)
            if failures:
                logger.error(f"{failures} of {len(paths) + len(unmatched)} inputs failed")
            return 1 if failures else 0
        try:
            drawn, interrupted = run_stream(demo, capture, destination, show)
        except OSError as e:  # the output video cannot be written
            logger.error(str(e))
            return 1
    if args.webcam:
        return 0  # Esc or Ctrl-C is the normal way out
    if drawn == 0:
        logger.error(f"{args.video_input}: no frame could be decoded")
        return 1
    return 130 if interrupted else 0


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` with the shared error convention: a ``UserError`` is one line on stderr
    and exit status 2 (the traceback with --debug)."""
    return run_cli(main, argv, prog="demo.py")


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S"
    )
    sys.exit(cli())
