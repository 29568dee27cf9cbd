"""tools/quickstart.py's report: chance-level baselines, the metric table, and the
image | ground truth | prediction strips it draws (with an untrained tiny model)."""

import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from PIL import Image

from helpers.configs import load_cfg, tiny_config_file
from helpers.paths import REPO
from helpers.scripts import load_script


@pytest.fixture(scope="module")
def quickstart():
    return load_script("tools/quickstart.py")


def test_chance_levels_and_table(quickstart, shapes_root):
    levels = quickstart.semantic_chance_levels("shapes_sem_seg_val")
    assert set(levels) == {"most frequent class", "uniformly random class"}
    # one class everywhere: IoU = its pixel share for that class, 0 for the other present ones
    counts = np.zeros(7, np.int64)
    for record in DatasetCatalog.get("shapes_sem_seg_val"):
        labels = np.asarray(Image.open(record["sem_seg_file_name"]))
        counts += np.bincount(labels[labels != 255], minlength=7)
    expected = 100 * counts.max() / counts.sum() / np.count_nonzero(counts)
    assert levels["most frequent class"] == pytest.approx(expected)
    assert 0 < levels["uniformly random class"] < 100 / 7
    results = {
        "sem_seg": {"mIoU": 81.234, "fwIoU": 1.0, "mACC": 2.0, "pACC": 3.0},
        "segm": {"AP": 4.5},
    }
    table = quickstart.metric_table(results, levels).splitlines()
    assert [c.strip() for c in table[0].split("|")[1:-1]] == [
        "task",
        "metric",
        "model",
        "chance: most frequent class",
        "chance: uniformly random class",
    ]
    miou = next(line for line in table if "mIoU" in line)
    assert "81.23" in miou and f"{levels['most frequent class']:.2f}" in miou
    assert any("segm" in line and "4.50" in line for line in table)
    assert not any("AP50" in line for line in table)  # absent metrics are not listed


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_draw_examples(quickstart, shapes_root, tmp_path, task):
    cfg = load_cfg(tiny_config_file(task))
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.OUTPUT_DIR = str(tmp_path)
    paths = quickstart.draw_examples(cfg, build_model(cfg), task, num_images=2)
    assert len(paths) == 2 and all(os.path.dirname(p) == str(tmp_path / "vis") for p in paths)
    for path in paths:
        strip = np.asarray(Image.open(path))
        stem = os.path.splitext(os.path.basename(path))[0]
        image = np.asarray(
            Image.open(shapes_root / "shapes" / "images" / "val" / f"{stem}.jpg").convert("RGB")
        )
        h, w = image.shape[:2]
        assert strip.shape == (h, 3 * w, 3)
        assert np.array_equal(strip[:, :w], image)  # the input, then two drawings over it
        assert not np.array_equal(strip[:, w : 2 * w], image) and not np.array_equal(
            strip[:, 2 * w :], image
        )


def test_command_line_and_early_mistakes(quickstart, shapes_root, tmp_path, monkeypatch):
    """The config comes from the model zoo (works installed); overrides positional or after
    --opts; a CUDA device without a GPU, an unknown key or an unwritable OUTPUT_DIR stop in
    setup() with one-line errors, before anything is written."""
    from mask2former.cli import CudaUnavailableError, OutputNotWritableError
    from mask2former.config import ConfigKeyError

    for argv in (
        ["--task", "panoptic", "SOLVER.MAX_ITER", "3"],
        ["--task", "panoptic", "--opts", "SOLVER.MAX_ITER", "3"],
    ):
        args = quickstart.parse_args(argv)
        assert args.opts == ["SOLVER.MAX_ITER", "3"]
        assert args.config_file == os.path.join(REPO, "configs", "quickstart", "panoptic.yaml")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    out = ["OUTPUT_DIR", str(tmp_path / "run")]
    with pytest.raises(CudaUnavailableError, match="`MODEL.DEVICE cpu`"):
        quickstart.setup(quickstart.parse_args(["MODEL.DEVICE", "cuda", *out]))
    with pytest.raises(ConfigKeyError, match="SOLVER.MAX_ITERS"):
        quickstart.setup(quickstart.parse_args(["SOLVER.MAX_ITERS", "3", *out]))
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file"):
        quickstart.setup(quickstart.parse_args(["OUTPUT_DIR", str(tmp_path / "file" / "run")]))
    assert not (tmp_path / "run").exists()
