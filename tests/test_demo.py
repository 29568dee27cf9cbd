"""demo/demo.py end to end with the tiny random-weight model: images, bad inputs, video, webcam;
the published model it runs without --config-file, downloaded from a local HTTP server."""

import functools
import http.server
import importlib
import logging
import os
import socket
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from detectron2.data.catalog import Metadata
from detectron2.utils.file_io import PathManager
from iopath.common.file_io import HTTPURLHandler
from PIL import Image

from helpers.configs import load_cfg, tiny_config_file
from helpers.paths import REPO, TINY_CONFIGS
from helpers.scripts import load_script
from mask2former.engine.predictor import MaskFormerPredictor
from mask2former.model_zoo import checkpoints as zoo_checkpoints
from mask2former.model_zoo import configs as zoo_configs

DEMO_SCRIPT = os.path.join(REPO, "demo", "demo.py")


@pytest.fixture(scope="module")
def demo_cli():
    """demo/demo.py imported as a module (it is a script, not part of a package)."""
    return load_script(DEMO_SCRIPT, "demo_cli")


def pattern_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 image with coloured rectangles on a gradient, so drawings change it."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = np.linspace(40, 200, width, dtype=np.uint8)[None, :, None]
    for _ in range(3):
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        image[y0 : y0 + height // 3, x0 : x0 + width // 3] = rng.integers(0, 255, 3)
    return image


def run_demo(demo_cli, *args) -> int:
    return demo_cli.main([str(a) for a in args])


def run_demo_cli(demo_cli, capsys, *args):
    """The demo through its command-line wrapper: (exit status, stderr)."""
    capsys.readouterr()
    rc = demo_cli.cli([str(a) for a in args])
    return rc, capsys.readouterr().err


def one_error_line(err: str) -> str:
    """The one line that a mistake of the user's prints on stderr (nothing else there)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("demo.py: error: "), err
    return lines[0]


@pytest.mark.parametrize("task", ["semantic", "panoptic", "instance"])
def test_images_end_to_end(demo_cli, tmp_path, task, caplog, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    png = pattern_image(48, 64, 1)
    cv2.imwrite(str(inputs / "a.png"), png)
    jpeg = pattern_image(40, 56, 3)
    cv2.imwrite(str(tmp_path / "c.jpg"), jpeg)
    out = tmp_path / "out"

    with caplog.at_level(logging.INFO):
        rc = run_demo(
            demo_cli,
            "--config-file", tiny_config_file(task),
            "--input", f"{inputs}/*.png", tmp_path / "c.jpg",
            "--output", out,
            "--random-weights",
            "--confidence-threshold", "0",
            "--task", task,
        )  # fmt: skip
    assert rc == 0
    assert sorted(os.listdir(out)) == ["a.png", "c.jpg"]
    for name, source in [("a.png", png), ("c.jpg", jpeg)]:
        drawing = cv2.imread(str(out / name))
        assert drawing.shape == source.shape
        # the overlay changes a good part of the image (JPEG noise alone stays far below this)
        changed = np.abs(drawing.astype(int) - source.astype(int)).max(axis=2) > 30
        assert changed.mean() > 0.05, name
    messages = [r.getMessage() for r in caplog.records if r.name == "demo"]
    timings = [m for m in messages if " in " in m]
    assert len(timings) == 2 and "a.png: " in timings[0] and timings[1].endswith("s")
    assert "class <index>" not in caplog.text  # names come from the shapes metadata
    assert "2/2" in capsys.readouterr().err  # the progress bar over the inputs finished


def test_output_file_for_one_input(demo_cli, tmp_path):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(50, 70))
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"), "--input", tmp_path / "in.png",
        "--output", tmp_path / "drawn.jpg", "--random-weights",
    )  # fmt: skip
    assert rc == 0
    assert cv2.imread(str(tmp_path / "drawn.jpg")).shape == (50, 70, 3)


def test_folder_input_and_duplicate_names(demo_cli, tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "same.png"), pattern_image(32, 32))
    (tmp_path / "x" / "notes.txt").write_text("not an image")  # a folder expands to images only
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"),
        "--input", tmp_path / "x", tmp_path / "y" / "same.png",
        "--output", tmp_path / "out", "--random-weights",
    )  # fmt: skip
    assert rc == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["same.png", "same_1.png"]


def test_bad_inputs_are_reported_and_skipped(demo_cli, tmp_path, caplog):
    good = pattern_image(40, 60)
    cv2.imwrite(str(tmp_path / "good.png"), good)
    cv2.imwrite(str(tmp_path / "gray.png"), good[:, :, 0])
    rgba = np.dstack([good, np.full(good.shape[:2], 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    cv2.imwrite(str(tmp_path / "deep.png"), good.astype(np.uint16) * 257)
    # stored 60 wide x 40 high, EXIF orientation 6: displayed rotated, 40 wide x 60 high
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(good[:, :, ::-1]).save(tmp_path / "rotated.jpg", exif=exif)
    full = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(full[: len(full) // 2])
    (tmp_path / "text.jpg").write_text("this is not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    bad = ["truncated.png", "text.jpg", "empty.png", "missing.png"]
    readable = ["good.png", "gray.png", "rgba.png", "deep.png", "rotated.jpg"]

    with caplog.at_level(logging.INFO, logger="demo"):
        rc = run_demo(
            demo_cli, "--config-file", tiny_config_file("semantic"),
            "--input", *[tmp_path / name for name in readable + bad],
            "--output", tmp_path / "out", "--random-weights",
        )  # fmt: skip
    assert rc == 1
    assert sorted(os.listdir(tmp_path / "out")) == sorted(readable)
    for name in readable:
        drawing = cv2.imread(str(tmp_path / "out" / name))
        expected = (60, 40, 3) if name == "rotated.jpg" else (40, 60, 3)
        assert drawing.shape == expected, name
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    for name in bad:
        assert sum(name in e for e in errors) == 1, (name, errors)
    assert all("\n" not in e for e in errors)
    assert any("4 of 9 inputs failed" in e for e in errors)


def test_missing_weights_are_a_clear_error(demo_cli, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    common = ["--config-file", tiny_config_file("semantic"), "--input", tmp_path / "in.png",
              "--output", tmp_path / "out"]  # fmt: skip
    rc, err = run_demo_cli(demo_cli, capsys, *common)
    line = one_error_line(err)
    assert rc == 2 and "sets no MODEL.WEIGHTS" in line and "--random-weights" in line
    missing = tmp_path / "nowhere" / "model_final.pth"
    # the override as Detectron2's train_net.py takes it (at the end, or right after the
    # inputs of --input), and after --opts, as the published demo takes it
    for argv in (
        [*common, "MODEL.WEIGHTS", missing],
        [*common[:4], "MODEL.WEIGHTS", missing, *common[4:]],
        [*common, "--opts", "MODEL.WEIGHTS", missing],
    ):
        rc, err = run_demo_cli(demo_cli, capsys, *argv)
        assert rc == 2 and f"MODEL.WEIGHTS file not found: {missing}" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_unknown_config_key_names_where_it_is_set(demo_cli, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    user = tmp_path / "my.yaml"
    user.write_text(
        f"_BASE_: {tiny_config_file('semantic')}\nMODEL:\n  MASK_FORMER:\n    NUM_QUERIES: 3\n"
    )
    common = ["--input", tmp_path / "in.png", "--output", tmp_path / "out", "--random-weights"]
    rc, err = run_demo_cli(demo_cli, capsys, "--config-file", user, *common)
    assert rc == 2
    assert f"{user}: unknown config key MODEL.MASK_FORMER.NUM_QUERIES" in one_error_line(err)
    rc, err = run_demo_cli(
        demo_cli,
        capsys,
        "--config-file",
        tiny_config_file("semantic"),
        *common,
        "SOLVER.MAX_ITERS",
        "1",
    )
    assert rc == 2
    assert "command-line override SOLVER.MAX_ITERS: unknown" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_missing_config_file_names_both_places_looked(demo_cli, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    rc, err = run_demo_cli(
        demo_cli, capsys, "--config-file", "coco/panoptic_R5O.yaml", "--input", tmp_path / "in.png",
        "--output", tmp_path / "out",
    )  # fmt: skip
    line = one_error_line(err)
    assert rc == 2 and "coco/panoptic_R5O.yaml not found" in line
    assert (
        os.getcwd() in line and "configs" in line and "did you mean coco/panoptic_R50.yaml" in line
    )


def test_task_the_config_does_not_compute_is_refused(demo_cli, tmp_path, capsys):
    """A semantic model cannot give panoptic results: the error says so and points at a
    panoptic config (turning PANOPTIC_ON on, the old hint, fails the same way, in one line);
    a panoptic model with panoptic inference off is told the key that turns it on."""
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    common = ["--input", tmp_path / "in.png", "--output", tmp_path / "out", "--random-weights"]
    semantic = ["--config-file", tiny_config_file("semantic")]
    rc, err = run_demo_cli(demo_cli, capsys, *semantic, *common, "--task", "panoptic")
    line = one_error_line(err)
    assert rc == 2 and "'shapes_sem_seg_train' has no thing classes" in line
    assert "--task semantic" in line and "--config-file coco/panoptic_R50.yaml" in line
    rc, err = run_demo_cli(
        demo_cli, capsys, *semantic, *common, "MODEL.MASK_FORMER.TEST.PANOPTIC_ON", "True"
    )
    assert rc == 2 and "has no thing classes" in one_error_line(err)

    panoptic_off = ["--config-file", tiny_config_file("panoptic"), *common, "--task", "panoptic"]
    rc, err = run_demo_cli(
        demo_cli, capsys, *panoptic_off, "MODEL.MASK_FORMER.TEST.PANOPTIC_ON", "False"
    )
    assert rc == 2 and "`MODEL.MASK_FORMER.TEST.PANOPTIC_ON True`" in one_error_line(err)
    rc, _ = run_demo_cli(
        demo_cli, capsys, *panoptic_off, "MODEL.MASK_FORMER.TEST.PANOPTIC_ON", "True"
    )
    assert rc == 0 and (tmp_path / "out" / "in.png").exists()


def test_without_output_or_display_asks_for_output(demo_cli, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc, err = run_demo_cli(
        demo_cli, capsys, "--config-file", tiny_config_file("semantic"), "--input", "x.png"
    )
    assert rc == 2 and "pass --output" in one_error_line(err)


def test_several_inputs_into_an_existing_file_is_refused(demo_cli, tmp_path, capsys):
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), pattern_image(32, 32))
    (tmp_path / "out.png").write_bytes(b"x")
    rc, err = run_demo_cli(
        demo_cli, capsys, "--config-file", tiny_config_file("semantic"), "--input", tmp_path / "a.png",
        tmp_path / "b.png", "--output", tmp_path / "out.png", "--random-weights",
    )  # fmt: skip
    assert rc == 2 and "need a folder" in one_error_line(err)


def test_unwritable_output_folder_is_refused(demo_cli, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    (tmp_path / "taken").write_text("a file where a folder is needed")
    rc, err = run_demo_cli(
        demo_cli, capsys, "--config-file", tiny_config_file("semantic"), "--input", tmp_path / "in.png",
        "--output", tmp_path / "taken" / "drawn", "--random-weights",
    )  # fmt: skip
    line = one_error_line(err)
    assert rc == 2 and f"cannot write to the output folder {tmp_path / 'taken' / 'drawn'}" in line
    assert "another `--output`" in line


def test_cuda_config_without_a_gpu_runs_on_the_cpu(demo_cli, tmp_path, monkeypatch, caplog):
    """The demo's side of the device rule (mask2former.cli.check_device): the CPU, with a
    warning, instead of "Found no NVIDIA driver"."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    with caplog.at_level(logging.WARNING):
        rc = run_demo(
            demo_cli, "--config-file", tiny_config_file("semantic"), "--input", tmp_path / "in.png",
            "--output", tmp_path / "out", "--random-weights", "MODEL.DEVICE", "cuda",
        )  # fmt: skip
    assert rc == 0 and (tmp_path / "out" / "in.png").exists()
    assert (
        "MODEL.DEVICE is 'cuda' but no CUDA device is available: running on the CPU" in caplog.text
    )


class WeightsServer:
    """An HTTP server on 127.0.0.1, in a thread, serving the files of ``folder``; records the
    paths of the GET requests (downloads) it answers."""

    def __init__(self, folder):
        self.downloads = []
        downloads = self.downloads

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                downloads.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish(monkeypatch, demo_cli, url: str) -> None:
    """Make tests/configs/tiny_panoptic.yaml the demo's default "published" config, whose
    model zoo checkpoint is ``url``: the shipped configs are tests/configs, the checkpoint
    table has that one entry."""
    monkeypatch.setattr(zoo_configs, "_roots", lambda: [str(TINY_CONFIGS)])
    entry = {"url": url, "method": "Mask2Former", "backbone": "R18 (tiny)", "dataset": "shapes",
             "task": "panoptic", "metrics": {"PQ": 1.0}}  # fmt: skip
    monkeypatch.setattr(zoo_checkpoints, "_table", lambda: {"tiny_panoptic.yaml": entry})
    monkeypatch.setattr(demo_cli, "DEFAULT_CONFIG", "tiny_panoptic.yaml")
    for name in ("no_proxy", "NO_PROXY"):  # a proxy of the environment must not take 127.0.0.1
        monkeypatch.setenv(name, "127.0.0.1,localhost")


def forget_downloads_in_memory():
    """Detectron2's PathManager remembers, per process, where it put each URL; forget it, so
    that the next load can only come from the cache on disk (or the network)."""
    for handler in PathManager._path_handlers.values():
        if isinstance(handler, HTTPURLHandler):
            handler.cache_map.clear()


def test_default_model_is_downloaded_once_and_cached(demo_cli, tmp_path, monkeypatch):
    """`demo.py --input img --output out`, as the README types it: no --config-file, no
    weights. The default published config's model zoo checkpoint is downloaded into
    $FVCORE_CACHE (Detectron2's cache), at the URL's path; the second run reads the cache with
    the server gone; the drawing is the one of those weights given as a local file."""
    trained = MaskFormerPredictor(load_cfg(tiny_config_file("panoptic")), random_weights=True).model
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
    served = tmp_path / "served" / "tiny" / "model_final_0a1b2c.pth"
    served.parent.mkdir(parents=True)
    torch.save({"model": trained.state_dict()}, served)
    server = WeightsServer(tmp_path / "served")
    cache = tmp_path / "cache"
    monkeypatch.setenv("FVCORE_CACHE", str(cache))
    publish(monkeypatch, demo_cli, f"{server.url}/tiny/model_final_0a1b2c.pth")
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(64, 64))
    try:
        assert (
            demo_cli.cli(["--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "first")])
            == 0
        )
    finally:
        server.stop()
    assert server.downloads == ["/tiny/model_final_0a1b2c.pth"]
    assert (cache / "tiny" / "model_final_0a1b2c.pth").read_bytes() == served.read_bytes()

    forget_downloads_in_memory()
    assert (
        demo_cli.cli(["--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "second")])
        == 0
    )
    assert server.downloads == ["/tiny/model_final_0a1b2c.pth"]  # one download in all
    assert demo_cli.cli(["--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "local"),
                         "MODEL.WEIGHTS", str(served)]) == 0  # fmt: skip
    drawings = [cv2.imread(str(tmp_path / run / "in.png")) for run in ("first", "second", "local")]
    assert np.array_equal(drawings[0], drawings[2]) and np.array_equal(drawings[1], drawings[2])


def test_offline_default_model_is_one_line(demo_cli, tmp_path, monkeypatch, capsys):
    """Without network, the default model fails in one line naming the URL, the file it is
    cached as (where a copy can be put) and how to pass local weights."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FVCORE_CACHE", str(cache))
    url = f"http://127.0.0.1:{closed_port()}/tiny/model_final_0a1b2c.pth"
    publish(monkeypatch, demo_cli, url)
    forget_downloads_in_memory()
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(32, 32))
    rc, err = run_demo_cli(
        demo_cli, capsys, "--input", tmp_path / "in.png", "--output", tmp_path / "out"
    )
    line = one_error_line(err)
    assert rc == 2 and f"cannot download MODEL.WEIGHTS {url}" in line
    assert f"cached as {cache / 'tiny' / 'model_final_0a1b2c.pth'}" in line
    assert "`MODEL.WEIGHTS path/to/model_final.pth`" in line
    assert not (tmp_path / "out").exists()


def write_video(path, frames, fps: float):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def video_properties(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


def test_video_end_to_end(demo_cli, tmp_path, capsys):
    source = [pattern_image(64, 64, seed) for seed in range(8)]
    write_video(tmp_path / "clip.mp4", source, fps=12)
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("panoptic"), "--video-input", tmp_path / "clip.mp4",
        "--output", tmp_path / "out", "--random-weights",
        "--opts", "MODEL.MASK_FORMER.TEST.INSTANCE_ON", "False",  # not drawn: save the time
    )  # fmt: skip
    assert rc == 0
    frames, fps = video_properties(tmp_path / "out" / "clip.mp4")
    assert len(frames) == 8 and fps == pytest.approx(12)
    assert all(f.shape == (64, 64, 3) for f in frames)
    decoded_source, _ = video_properties(tmp_path / "clip.mp4")
    assert np.abs(frames[0].astype(int) - decoded_source[0].astype(int)).mean() > 5
    assert "8/8" in capsys.readouterr().err  # the progress bar over the frames finished


def test_unreadable_video_fails(demo_cli, tmp_path, caplog):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"),
        "--video-input", tmp_path / "broken.mp4",
        "--output", tmp_path / "out", "--random-weights",
    )  # fmt: skip
    assert rc == 1
    assert "broken.mp4" in caplog.text


class FakeWebcam:
    """Stands in for cv2.VideoCapture(0): gives ``frames`` frames, then acts like Ctrl-C."""

    def __init__(self, frames: int):
        self.frames = frames
        self.released = False

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 15.0, cv2.CAP_PROP_FRAME_WIDTH: 48.0,
                cv2.CAP_PROP_FRAME_HEIGHT: 32.0}.get(prop, 0.0)  # fmt: skip

    def read(self):
        if self.frames == 0:
            raise KeyboardInterrupt
        self.frames -= 1
        return True, pattern_image(32, 48, self.frames)

    def release(self):
        self.released = True


def test_webcam_stops_cleanly_on_ctrl_c(demo_cli, tmp_path, monkeypatch):
    webcam = FakeWebcam(frames=3)
    monkeypatch.setattr(demo_cli.cv2, "VideoCapture", lambda index: webcam)
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"), "--webcam",
        "--output", tmp_path / "cam", "--random-weights",
    )  # fmt: skip
    monkeypatch.undo()
    assert rc == 0 and webcam.released
    frames, fps = video_properties(tmp_path / "cam" / "webcam.mp4")
    assert len(frames) == 3 and fps == pytest.approx(15)
    assert frames[0].shape == (32, 48, 3)


class FakeWindow:
    """Stands in for OpenCV's HighGUI: counts shown frames, answers Esc on the ``esc_at``-th."""

    def __init__(self, esc_at: int):
        self.esc_at, self.shown, self.destroyed = esc_at, 0, False

    def install(self, monkeypatch, demo_cli):
        monkeypatch.setattr(demo_cli, "has_display", lambda: True)
        monkeypatch.setattr(demo_cli.cv2, "namedWindow", lambda *args: None)
        monkeypatch.setattr(demo_cli.cv2, "imshow", self.imshow)
        monkeypatch.setattr(demo_cli.cv2, "waitKey", self.wait_key)
        monkeypatch.setattr(demo_cli.cv2, "destroyAllWindows", self.destroy)

    def imshow(self, name, image):
        assert image.dtype == np.uint8 and image.ndim == 3
        self.shown += 1

    def wait_key(self, delay):
        return 27 if self.shown == self.esc_at else -1  # 27: Esc

    def destroy(self):
        self.destroyed = True


def test_webcam_in_a_window_stops_on_esc(demo_cli, monkeypatch):
    webcam = FakeWebcam(frames=100)
    window = FakeWindow(esc_at=2)
    window.install(monkeypatch, demo_cli)
    monkeypatch.setattr(demo_cli.cv2, "VideoCapture", lambda index: webcam)
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"), "--webcam", "--random-weights"
    )
    monkeypatch.undo()
    assert rc == 0
    assert window.shown == 2 and window.destroyed and webcam.released
    assert webcam.frames == 98  # no frame read after Esc


def test_images_in_a_window_stop_on_esc(demo_cli, tmp_path, monkeypatch):
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), pattern_image(32, 40))
    window = FakeWindow(esc_at=2)
    window.install(monkeypatch, demo_cli)
    rc = run_demo(
        demo_cli, "--config-file", tiny_config_file("semantic"), "--input", f"{tmp_path}/*.png",
        "--random-weights",
    )  # fmt: skip
    monkeypatch.undo()
    assert rc == 0 and window.shown == 2 and window.destroyed
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.png", "c.png"]  # nothing written


def test_script_runs_from_the_command_line(tmp_path):
    cv2.imwrite(str(tmp_path / "in.png"), pattern_image(48, 48))
    result = subprocess.run(
        [sys.executable, DEMO_SCRIPT, "--config-file", tiny_config_file("semantic"),
         "--input", str(tmp_path / "in.png"), str(tmp_path / "gone.png"),
         "--output", str(tmp_path / "out"), "--random-weights"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 1, log
    assert "in.png: " in log and "gone.png: no such file" in log and "1 of 2 inputs failed" in log
    assert (tmp_path / "out" / "in.png").exists()
    assert "Warning" not in log  # fvcore's torch.jit.script FutureWarning, printed twice before


def test_counts_in_messages_agree_with_their_number(demo_cli):
    assert demo_cli._count(1, "class") == "1 class" and demo_cli._count(3, "class") == "3 classes"
    assert (
        demo_cli._count(1, "instance") == "1 instance"
        and demo_cli._count(0, "instance") == "0 instances"
    )
    assert demo_cli._count(1, "panoptic segment") == "1 panoptic segment"
    semantic = {"sem_seg": torch.zeros(3, 4, 4)}  # every pixel: class 0
    assert demo_cli._describe("semantic", semantic, 0.5) == "1 class"


@pytest.fixture(scope="module")
def drawing_metadata(demo_cli):
    return importlib.import_module(demo_cli.VisualizationDemo.__module__).drawing_metadata


def test_drawing_metadata_indexes_classes_by_model_label(drawing_metadata):
    # panoptic registration: things listed alone, model labels index all classes
    panoptic = Metadata(
        name="p", thing_classes=["car"], thing_colors=[[9, 9, 9]],
        stuff_classes=["sky", "car", "road"], stuff_colors=[[1, 1, 1], [9, 9, 9], [2, 2, 2]],
    )  # fmt: skip
    drawn = drawing_metadata(panoptic, 3)
    assert drawn.thing_classes == drawn.stuff_classes == ["sky", "car", "road"]
    assert drawn.thing_colors == drawn.stuff_colors == [[1, 1, 1], [9, 9, 9], [2, 2, 2]]
    # instance registration: thing classes only
    drawn = drawing_metadata(Metadata(name="i", thing_classes=["a", "b"]), 2)
    assert drawn.stuff_classes == drawn.thing_classes == ["a", "b"]
    assert drawn.get("thing_colors") is None
    # no list matches NUM_CLASSES
    drawn = drawing_metadata(Metadata(name="s", stuff_classes=["a", "b"]), 3)
    assert drawn.stuff_classes == ["class 0", "class 1", "class 2"]


@pytest.mark.parametrize(
    "display, gui, expected",
    [(":0", "GTK3", True), (":0", "NONE", False), (None, "GTK3", False)],
)
def test_has_display(demo_cli, monkeypatch, display, gui, expected):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    build_info = f"General configuration\n  GUI:                           {gui}\n  Media I/O:\n"
    monkeypatch.setattr(demo_cli.cv2, "getBuildInformation", lambda: build_info)
    assert demo_cli.has_display() is expected
