"""demo/video_demo.py end to end with the tiny random-weight video model: a folder of frames
(one unreadable), a video file, bad inputs; and how it picks, colours and labels objects."""

import logging
import os

import cv2
import numpy as np
import pytest
import torch

from helpers.paths import REPO
from helpers.scripts import load_script
from helpers.video import make_tiny_video_cfg
from mask2former.cli import run_cli

DEMO_SCRIPT = os.path.join(REPO, "demo", "video_demo.py")


@pytest.fixture(scope="module")
def video_demo():
    return load_script(DEMO_SCRIPT)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    cfg = make_tiny_video_cfg()
    cfg.DATASETS.TEST = ("shapes_video_val",)
    path = tmp_path_factory.mktemp("cfg") / "tiny_video.yaml"
    path.write_text(cfg.dump())
    return str(path)


def frames(count: int, h: int = 48, w: int = 64):
    rng = np.random.default_rng(0)
    out = []
    for t in range(count):
        image = np.full((h, w, 3), 90, np.uint8)
        image[10:30, 5 + 4 * t : 25 + 4 * t] = rng.integers(0, 255, 3)
        out.append(image)
    return out


def test_frame_folder_with_an_unreadable_frame(video_demo, tiny_config, tmp_path, caplog):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(frames(5)):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), image)
    (folder / "00002.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "drawn"
    with caplog.at_level(logging.ERROR):
        status = video_demo.main(
            [
                "--config-file",
                tiny_config,
                "--input",
                str(folder),
                "--output",
                str(out),
                "--random-weights",
                "--confidence-threshold",
                "0",
                "--clip-length",
                "2",
            ]
        )
    assert status == 1
    assert f"skipped frame {folder / '00002.jpg'}" in caplog.text
    written = sorted(os.listdir(out))
    assert written == ["00000.jpg", "00001.jpg", "00003.jpg", "00004.jpg"]
    drawn = cv2.imread(str(out / "00003.jpg"))
    assert drawn.shape == (48, 64, 3)
    assert np.abs(drawn.astype(int) - cv2.imread(str(folder / "00003.jpg")).astype(int)).mean() > 1


def test_video_file_to_video_file(video_demo, tiny_config, tmp_path):
    source = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for image in frames(6):
        writer.write(image)
    writer.release()
    out = tmp_path / "out" / "drawn.mp4"
    assert (
        video_demo.main(
            [
                "--config-file",
                tiny_config,
                "--input",
                str(source),
                "--output",
                str(out),
                "--random-weights",
            ]
        )
        == 0
    )
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    capture.release()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--input", "{tmp}/nothing_here"], "--input {tmp}/nothing_here: no such file or folder"),
        (["--input", "{tmp}"], "--input {tmp}: no frame"),
        (
            ["--input", "{tmp}/f", "--output", "{tmp}/x.txt"],
            "--output {tmp}/x.txt: expected a folder or a video file",
        ),
    ],
)
def test_bad_arguments_are_one_line_errors(
    video_demo, tiny_config, tmp_path, capsys, args, message
):
    (tmp_path / "f").mkdir()
    cv2.imwrite(str(tmp_path / "f" / "0.png"), frames(1)[0])
    args = [a.format(tmp=tmp_path) for a in args]
    if "--output" not in args:
        args += ["--output", str(tmp_path / "o")]
    status = run_cli(
        video_demo.main,
        ["--config-file", tiny_config, "--random-weights"] + args,
        prog="video_demo.py",
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("video_demo.py: error: " + message.format(tmp=tmp_path))


def test_kept_tracks_are_numbered_by_rank_with_fixed_colours(video_demo):
    masks = torch.zeros(3, 2, 4, 4, dtype=torch.bool)
    predictions = {
        "pred_scores": [0.9, 0.7, 0.2],
        "pred_labels": [1, 3, 0],
        "pred_masks": list(masks),
    }
    tracks = video_demo.kept_tracks(predictions, 0.5, ["circle", "square", "triangle", "star"])
    assert [t["label"] for t in tracks] == ["#0 square 90%", "#1 star 70%"]
    assert not np.allclose(tracks[0]["color"], tracks[1]["color"])
    again = video_demo.kept_tracks(predictions, 0.5, ["circle", "square", "triangle", "star"])
    assert all(np.array_equal(a["color"], b["color"]) for a, b in zip(tracks, again))


def test_clip_overlap_not_shorter_than_clips_is_a_one_line_error(
    video_demo, tiny_config, tmp_path, capsys
):
    (tmp_path / "f").mkdir()
    cv2.imwrite(str(tmp_path / "f" / "0.png"), frames(1)[0])
    status = run_cli(
        video_demo.main,
        [
            "--config-file",
            tiny_config,
            "--random-weights",
            "--input",
            str(tmp_path / "f"),
            "--output",
            str(tmp_path / "o"),
            "--clip-length",
            "4",
            "--clip-overlap",
            "4",
        ],
        prog="video_demo.py",
    )
    assert status == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith(
            "video_demo.py: error: MODEL.MASK_FORMER.TEST.CLIP_OVERLAP must lie in [0, CLIP_LENGTH)"
        )
    )
