#!/usr/bin/env python
"""Run a video instance segmentation model on a video file or a folder of frames and draw each
predicted object in one colour, labelled with its id (and class, score), through time.

    python demo/video_demo.py --config-file configs/youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml \
        --input video.mp4 --output drawn.mp4 --opts MODEL.WEIGHTS model_final_3c8ec9.pkl
    python demo/video_demo.py --config-file CFG --input frames/ --output drawn/ --clip-length 30 \
        --clip-overlap 5 --opts MODEL.WEIGHTS model.pth

--output ending in a video extension (.mp4, .avi, ...) writes a video; otherwise a folder of
frames. Frames that cannot be read are named and left out; the exit status is then 1.
"""

import argparse
import logging
import os
import sys
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch
import tqdm
from detectron2.config import get_cfg
from detectron2.utils.colormap import colormap
from detectron2.utils.visualizer import Visualizer
from tqdm.contrib.logging import logging_redirect_tqdm

from mask2former.cli import run_cli
from mask2former.config import merge_config
from mask2former.data.image_io import read_image_checked
from mask2former.errors import UserError
from mask2former.video import add_video_model_config
from mask2former.video.predictor import VideoPredictor

logger = logging.getLogger("video_demo")

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")
VIDEO_FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
# frames above which one-pass inference gets a hint about clip-wise inference
LONG_VIDEO = 64


class DemoInputError(UserError, FileNotFoundError):
    """--input names nothing readable."""


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="a video config")
    parser.add_argument(
        "--input", required=True, help="a video file, or a folder of frames (in name order)"
    )
    parser.add_argument(
        "--output",
        required=True,
        help="a video file (.mp4, .avi, .mov, .mkv) or a folder to write the drawn frames to",
    )
    parser.add_argument(
        "--confidence-threshold",
        type=float,
        default=0.5,
        help="objects scoring below are not drawn",
    )
    parser.add_argument(
        "--clip-length",
        type=int,
        default=None,
        help="run the model on clips of this many frames, linked into tracks (memory stays "
        "bounded); 0: the whole video at once (default: the config's "
        "MODEL.MASK_FORMER.TEST.CLIP_LENGTH)",
    )
    parser.add_argument(
        "--clip-overlap", type=int, default=None, help="frames shared by consecutive clips"
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate of an output video (default: the input video's, 6 for a folder of frames)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="run with random weights instead of MODEL.WEIGHTS (for testing; output is noise)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument(
        "--opts", default=[], nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs"
    )
    return parser


def setup_cfg(args):
    cfg = get_cfg()
    add_video_model_config(cfg)
    merge_config(cfg, args.config_file, args.opts)
    if args.clip_length is not None:
        cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH = args.clip_length
    if args.clip_overlap is not None:
        cfg.MODEL.MASK_FORMER.TEST.CLIP_OVERLAP = args.clip_overlap
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("CUDA is not available: running on the CPU")
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def read_frame_folder(folder: str) -> Tuple[List[np.ndarray], List[str], int]:
    """The readable frames of a folder (BGR), their file names, and how many could not be read
    (each is logged with its name)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(FRAME_EXTENSIONS))
    if not names:
        raise DemoInputError(
            f"--input {folder}: no frame ({', '.join(FRAME_EXTENSIONS)}) in this folder"
        )
    frames, kept, failures = [], [], 0
    for name in tqdm.tqdm(names, desc="reading", unit="frame"):
        path = os.path.join(folder, name)
        try:
            frame = read_image_checked(path, format="BGR")
        except OSError as e:  # FileNotFoundError or ImageReadError, naming the file
            logger.error(f"skipped frame {path}: {e}")
            failures += 1
            continue
        if frames and frame.shape != frames[0].shape:
            logger.error(
                f"skipped frame {path}: {frame.shape[1]}x{frame.shape[0]}, the other frames are "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}"
            )
            failures += 1
            continue
        frames.append(frame)
        kept.append(name)
    return frames, kept, failures


def read_video_file(path: str) -> Tuple[List[np.ndarray], float, int]:
    """The decodable frames of a video file (BGR), its frame rate (0 if unknown) and how many
    of the frames it announces could not be decoded (logged with their numbers)."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise DemoInputError(
            f"--input {path}: cannot open this video (not a video file OpenCV reads?)"
        )
    announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    frames = []
    with tqdm.tqdm(total=announced if announced > 0 else None, desc="reading", unit="frame") as bar:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
            bar.update(1)
    capture.release()
    failures = max(announced - len(frames), 0)
    if failures:
        logger.error(
            f"{path}: frames {len(frames)} to {announced - 1} (numbered from 0) could not be decoded"
        )
    if not frames:
        raise DemoInputError(f"--input {path}: no frame could be decoded")
    return frames, fps if fps == fps and fps > 0 else 0.0, failures


def draw_tracks(frame: np.ndarray, index: int, tracks: List[dict], metadata) -> np.ndarray:
    """The BGR ``frame`` with the masks of ``tracks`` in frame ``index``, each in its track's
    colour and labelled with its id, class and score."""
    visible = [t for t in tracks if t["masks"][index].any()]
    visualizer = Visualizer(frame[:, :, ::-1], metadata)
    if visible:
        visualizer.overlay_instances(
            masks=[t["masks"][index] for t in visible],
            labels=[t["label"] for t in visible],
            assigned_colors=[t["color"] for t in visible],
        )
    return np.ascontiguousarray(visualizer.output.get_image()[:, :, ::-1])


def kept_tracks(predictions: dict, threshold: float, class_names: List[str]) -> List[dict]:
    """The predictions scoring at least ``threshold``, best first, with their id (their rank),
    colour and label."""
    colors = colormap(rgb=True, maximum=1)
    tracks = []
    for score, label, masks in zip(
        predictions["pred_scores"], predictions["pred_labels"], predictions["pred_masks"]
    ):
        if score < threshold:
            continue
        track_id = len(tracks)
        name = class_names[label] if label < len(class_names) else f"class {label}"
        tracks.append(
            {
                "masks": masks.numpy(),
                "label": f"#{track_id} {name} {score:.0%}",
                "color": colors[track_id % len(colors)],
            }
        )
    return tracks


def output_is_video(output: str) -> bool:
    """Whether --output names a video file (else a folder of frames)."""
    ext = os.path.splitext(output)[1].lower()
    if ext and ext not in VIDEO_EXTENSIONS:
        raise UserError(
            f"--output {output}: expected a folder or a video file ({', '.join(VIDEO_EXTENSIONS)})"
        )
    return bool(ext)


def write_output(drawings, names: List[str], output: str, fps: float, size: Tuple[int, int]) -> int:
    """Writes the drawn frames to a video file or a folder; returns how many failed."""
    ext = os.path.splitext(output)[1].lower()
    total = len(names)
    if output_is_video(output):
        parent = os.path.dirname(output)
        if parent:
            os.makedirs(parent, exist_ok=True)
        writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*VIDEO_FOURCC[ext]), fps, size)
        if not writer.isOpened():
            raise UserError(f"--output {output}: OpenCV cannot write this video")
        for drawing in tqdm.tqdm(drawings, total=total, desc="drawing", unit="frame"):
            writer.write(drawing)
        writer.release()
        return 0
    os.makedirs(output, exist_ok=True)
    failures = 0
    for drawing, name in zip(tqdm.tqdm(drawings, total=total, desc="drawing", unit="frame"), names):
        path = os.path.join(output, os.path.splitext(name)[0] + ".jpg")
        if not cv2.imwrite(path, drawing):
            logger.error(f"could not write {path}")
            failures += 1
    return failures


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the demo; returns the exit status (0: every frame drawn, 1: some frame failed)."""
    args = get_parser().parse_args(argv)
    output_is_video(args.output)
    if os.path.isdir(args.input):
        frames, names, failures = read_frame_folder(args.input)
        fps = args.fps or 6.0  # YouTube-VIS frames are every 5th of a 30 fps video
    elif os.path.isfile(args.input):
        frames, fps, failures = read_video_file(args.input)
        fps = args.fps or fps or 30.0
        names = [f"{i:05d}.jpg" for i in range(len(frames))]
    else:
        raise DemoInputError(f"--input {args.input}: no such file or folder")
    cfg = setup_cfg(args)
    if not cfg.MODEL.MASK_FORMER.TEST.CLIP_LENGTH and len(frames) > LONG_VIDEO:
        logger.warning(
            f"{len(frames)} frames in one forward pass need memory in proportion (docs/video.md); "
            "--clip-length 30 --clip-overlap 5 keeps it bounded"
        )
    predictor = VideoPredictor(cfg, random_weights=args.random_weights)
    class_names = predictor.metadata.get("thing_classes", None) or []

    with logging_redirect_tqdm():
        with tqdm.tqdm(total=len(frames), desc="segmenting", unit="frame") as bar:
            predictions = predictor(frames, progress=lambda done, _: bar.update(done - bar.n))
        tracks = kept_tracks(predictions, args.confidence_threshold, class_names)
        logger.info(
            f"{len(tracks)} objects scoring at least {args.confidence_threshold} in {len(frames)} frames"
        )
        drawings = (
            draw_tracks(frame, i, tracks, predictor.metadata) for i, frame in enumerate(frames)
        )
        height, width = frames[0].shape[:2]
        failures += write_output(drawings, names, args.output, fps, (width, height))
    logger.info(f"wrote {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s", datefmt="%H:%M:%S"
    )
    sys.exit(run_cli(main, prog="video_demo.py"))
