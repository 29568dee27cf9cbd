#!/usr/bin/env python
"""Run a MaskFormer / Mask2Former model on images, a video or a webcam and draw its predictions.

    python demo/demo.py --config-file CFG --input a.jpg "photos/*.png" --output out/ \
        --opts MODEL.WEIGHTS model_final.pth
    python demo/demo.py --config-file CFG --video-input v.mp4 --output out.mp4 --opts ...
    python demo/demo.py --config-file CFG --webcam [--output webcam.mp4] --opts ...

Unreadable inputs are reported one line each and skipped; the exit status is non-zero when any
input failed.
"""
import argparse
import glob
import logging
import os
import sys
import time
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np
import torch
import tqdm
from detectron2.config import get_cfg
from tqdm.contrib.logging import logging_redirect_tqdm

from mask2former import add_maskformer2_config
from mask2former.config import ConfigKeyError, merge_config
from mask2former.allocator import keep_freed_heap_memory
from mask2former.data.image_io import read_image_checked

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from predictor import TASKS, VisualizationDemo  # noqa: E402  (sibling module of this script)

logger = logging.getLogger("demo")

WINDOW_NAME = "mask2former demo"
ESC_KEY = 27
# what a folder given to --input expands to
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_FOURCC = "mp4v"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to config file")
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
        choices=("auto",) + TASKS,
        default="auto",
        help="which result to draw; auto: the first of panoptic, instance, semantic that the "
        "config turns on",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="run with random weights instead of MODEL.WEIGHTS (for testing; output is noise)",
    )
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        help="config overrides as KEY VALUE pairs, e.g. MODEL.WEIGHTS model_final.pth",
    )
    return parser


def setup_cfg(args):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    merge_config(cfg, args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("CUDA is not available: running on the CPU")
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def has_display() -> bool:
    """Whether a window can be opened: a display server is named and OpenCV was built with a
    GUI backend (opencv-python-headless has none)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() != "NONE"
    return False


def expand_inputs(patterns: List[str]) -> Tuple[List[str], List[str]]:
    """Files named by ``patterns`` (files, folders, glob patterns) in the given order, and the
    patterns that name no file."""
    paths, unmatched = [], []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(
                os.path.join(pattern, name)
                for name in os.listdir(pattern)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.exists(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
        if found:
            paths.extend(found)
        else:
            unmatched.append(pattern)
    return paths, unmatched


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
            raise ValueError(
                f"--output {output} names a file, but {len(paths)} inputs need a folder"
            )
        if not cv2.haveImageWriter(output):
            raise ValueError(f"--output {output}: OpenCV cannot write this image format")
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


def _describe(task: str, predictions: dict, confidence_threshold: float) -> str:
    if task == "panoptic":
        return f"{len(predictions['panoptic_seg'][1])} panoptic segments"
    if task == "instance":
        scores = predictions["instances"].scores
        return f"{int((scores >= confidence_threshold).sum())} instances"
    return f"{len(predictions['sem_seg'].argmax(dim=0).unique())} classes"


def run_images(
    demo: VisualizationDemo, paths: List[str], destinations: List[Optional[str]]
) -> int:
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


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the demo; returns the exit status (0: every input was drawn, 1: some input
    failed, 2: unusable arguments)."""
    args = get_parser().parse_args(argv)
    keep_freed_heap_memory()
    show = args.output is None
    if show and not has_display():
        logger.error(
            "no display to show results on (no DISPLAY/WAYLAND_DISPLAY, or OpenCV without GUI "
            "support such as opencv-python-headless): pass --output FILE_OR_FOLDER"
        )
        return 2
    if args.input:
        paths, unmatched = expand_inputs(args.input)
        for pattern in unmatched:
            logger.error(f"--input {pattern}: no such file (or no image in that folder)")
        if not paths:
            return 1
        try:
            destinations = (
                image_destinations(paths, args.output) if args.output else [None] * len(paths)
            )
        except ValueError as e:
            logger.error(str(e))
            return 2
    else:
        capture = cv2.VideoCapture(args.video_input if args.video_input else 0)
        if not capture.isOpened():
            logger.error(f"cannot open video {args.video_input}" if args.video_input
                         else "cannot open the webcam (device 0)")  # fmt: skip
            return 1
        destination = None
        if args.output:
            destination = video_destination(args.video_input or "webcam.mp4", args.output)

    try:
        cfg = setup_cfg(args)
    except ConfigKeyError as e:  # names the YAML file or the --opts pair
        logger.error(str(e))
        return 2
    try:
        demo = VisualizationDemo(
            cfg,
            task=args.task,
            confidence_threshold=args.confidence_threshold,
            random_weights=args.random_weights,
        )
    except ValueError as e:  # MissingWeightsError, or a config that cannot give the --task
        logger.error(f"{args.config_file}: {e}")
        return 2

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


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S"
    )
    sys.exit(main())
