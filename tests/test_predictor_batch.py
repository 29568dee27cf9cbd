"""MaskFormerPredictor on a list of images: one batch (or batches of batch_size) giving the
results of one image at a time; tools/benchmark_predictor.py and
tools/benchmark_sliding_window.py print their tables."""

import numpy as np
import pytest
import torch

from helpers.configs import tiny_semantic_cfg
from helpers.paths import TINY_CONFIGS
from helpers.scripts import load_script, size_sweep_rows
from mask2former.engine.predictor import MaskFormerPredictor


def _images(*shapes):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for shape in shapes]


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return MaskFormerPredictor(tiny_semantic_cfg(), random_weights=True)


def test_a_list_of_images_of_one_size_gives_the_results_of_one_at_a_time(predictor):
    images = _images((48, 64), (48, 64), (48, 64))
    one_at_a_time = [predictor(image) for image in images]
    batched = predictor.batch(images)
    assert len(batched) == 3
    for result, expected in zip(batched, one_at_a_time):
        assert result["sem_seg"].shape == (7, 48, 64)
        torch.testing.assert_close(result["sem_seg"], expected["sem_seg"], rtol=1e-5, atol=1e-5)
    # calling the predictor with a list is the same
    for result, expected in zip(predictor(images), batched):
        assert torch.equal(result["sem_seg"], expected["sem_seg"])
    assert predictor([]) == []


def test_images_of_different_sizes_are_padded_into_one_batch(predictor, monkeypatch):
    """The model pads the batch to its largest (resized) image: that image's results are its
    own, every image's come back at its own size; batch_size=1 is one image at a time."""
    images = _images((64, 64), (40, 80), (30, 20))  # resized to 64x64, 32x64, 64x43
    calls = []
    model = predictor.model
    monkeypatch.setattr(
        predictor, "model", lambda inputs: calls.append(len(inputs)) or model(inputs)
    )
    batched = predictor.batch(images)
    assert calls == [3]
    assert [r["sem_seg"].shape[-2:] for r in batched] == [(64, 64), (40, 80), (30, 20)]
    calls.clear()
    one_at_a_time = predictor.batch(images, batch_size=1)
    assert calls == [1, 1, 1]
    for image, result in zip(images, one_at_a_time):
        assert torch.equal(result["sem_seg"], predictor(image)["sem_seg"])
    # the first image fills the padded batch: its results are its own
    torch.testing.assert_close(
        batched[0]["sem_seg"], one_at_a_time[0]["sem_seg"], rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        predictor.batch(images, batch_size=0)


def test_benchmark_predictor_prints_both_modes(capsys):
    tool = load_script("tools/benchmark_predictor.py")
    threads = torch.get_num_threads()
    try:
        config = str(TINY_CONFIGS / "tiny_semantic.yaml")
        assert tool.main(["--config-file", config, "--size", "48", "64", "--images", "2",
                          "--batch", "2", "--repeats", "1", "--threads", "1"]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")][1:]
    assert [r[0].strip() for r in rows] == ["one at a time", "batches of 2"], out
    assert all(float(r[2]) > 0 for r in rows) and rows[0][3].strip() == "1.00"
    assert float(out.rsplit("modes: ", 1)[1]) < 1e-4


def test_benchmark_sliding_window_prints_a_row_per_size(capsys):
    options = ["--sizes", "64", "--window", "48", "--stride", "16"]
    out, rows = size_sweep_rows(capsys, "tools/benchmark_sliding_window.py", options, "| 64x64 |")
    assert len(rows) == 1 and rows[0].count("MiB") == 2, out
