"""Training survives a broken sample: it is skipped (another sample takes its place), named once
in the log and counted in the training metrics; training stops with the broken files named
only when more than a small fraction of the samples are broken."""

import json
import logging
import os

import pytest

from helpers.configs import make_tiny_cfg
from helpers.custom_data import copy_shapes, user_dataset, write
from mask2former.data.broken_samples import (
    REPORT_KEY,
    BrokenSampleMonitor,
    SkipBrokenSamples,
    TooManyBrokenSamplesError,
)


def _mapper(broken):
    def mapper(record):
        if record["file_name"] in broken:
            raise OSError(f"Cannot decode image file {record['file_name']}")
        return {"file_name": record["file_name"], "width": 1, "height": 1}

    return mapper


def _loader(mapper, names, batch_size=2):
    """Batches as Detectron2's MapDataset makes them: a record that maps to None is replaced by
    the next one."""
    batch = []
    for name in names:
        sample = mapper({"file_name": name})
        if sample is None:
            continue
        batch.append(sample)
        if len(batch) == batch_size:
            yield batch
            batch = []


def test_skipped_samples_are_reported_with_the_next_sample_and_logged_once(caplog):
    names = [f"{i}.jpg" for i in range(200)]
    mapper = SkipBrokenSamples(_mapper({"3.jpg", "5.jpg"}), len(names))
    monitor = BrokenSampleMonitor(_loader(mapper, names * 2), len(names))
    with caplog.at_level(logging.WARNING):
        batches = list(monitor)
    assert len(batches) == 198  # 2 x 198 good samples
    assert all(REPORT_KEY not in sample for batch in batches for sample in batch)
    assert monitor.broken == {
        "3.jpg": "Cannot decode image file 3.jpg",
        "5.jpg": "Cannot decode image file 5.jpg",
    }
    assert monitor.skipped == 4
    warnings = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert warnings == [
        "Skipped a broken training sample, 3.jpg: Cannot decode image file 3.jpg",
        "Skipped a broken training sample, 5.jpg: Cannot decode image file 5.jpg",
    ]


def test_more_broken_samples_than_the_allowed_fraction_stop_training():
    names = [f"{i}.jpg" for i in range(200)]  # 1% of 200: 2 may be broken
    mapper = SkipBrokenSamples(_mapper({"3.jpg", "5.jpg", "7.jpg"}), len(names))
    with pytest.raises(TooManyBrokenSamplesError) as info:
        list(BrokenSampleMonitor(_loader(mapper, names), len(names)))
    message = str(info.value)
    assert message.startswith(
        "Training stopped: 3 of the 200 training samples are broken, more than the 1% (at least one)"
    )
    assert (
        "3.jpg (Cannot decode image file 3.jpg); 5.jpg" in message
        and "tools/check_dataset.py" in message
    )


def test_every_sample_broken_stops_instead_of_searching_forever():
    names = [f"{i}.jpg" for i in range(10)]
    mapper = SkipBrokenSamples(_mapper(set(names)), len(names))
    with pytest.raises(TooManyBrokenSamplesError, match="2 of the 10 training samples are broken"):
        list(BrokenSampleMonitor(_loader(mapper, names), len(names)))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return user_dataset(tmp_path_factory.mktemp("user"))


def train(tmp_path, description: str, *opts) -> int:
    """train_net.py on the tiny model, 3 iterations, no evaluation."""
    from mask2former.commands import train_net

    base = write(tmp_path / "tiny.yaml", make_tiny_cfg().dump())
    return train_net.cli(
        [
            "--config-file",
            base,
            "--dataset",
            description,
            "SOLVER.MAX_ITER",
            "3",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "SOLVER.WARMUP_ITERS",
            "1",
            "DATALOADER.NUM_WORKERS",
            "1",
            "DATASETS.TEST",
            "()",
            "OUTPUT_DIR",
            str(tmp_path / "out"),
            *opts,
        ]
    )


def test_training_skips_a_truncated_image_and_counts_it(shapes, tmp_path):
    data = copy_shapes(shapes, tmp_path / "data")
    truncated = os.path.join(data, "images", "train", "000002.jpg")
    with open(truncated, "r+b") as f:
        f.truncate(200)
    assert train(tmp_path, os.path.join(data, "custom_semantic.yaml")) == 0
    log = open(tmp_path / "out" / "log.txt").read()
    assert (
        log.count(
            f"Skipped a broken training sample, {truncated}: Cannot decode image file {truncated}"
        )
        == 1
    )
    with open(tmp_path / "out" / "metrics.json") as f:
        metrics = [json.loads(line) for line in f]
    assert metrics[-1]["iteration"] == 2 and metrics[-1]["data/broken_samples"] == 1
    assert os.path.isfile(tmp_path / "out" / "model_final.pth")


def test_training_stops_when_too_many_samples_are_broken(shapes, tmp_path, capsys):
    data = copy_shapes(shapes, tmp_path / "data")
    for stem in ("000001", "000003"):
        with open(os.path.join(data, "images", "train", stem + ".jpg"), "r+b") as f:
            f.truncate(200)
    capsys.readouterr()
    assert train(tmp_path, os.path.join(data, "custom_semantic.yaml")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        "train_net.py: error: Training stopped: 2 of the 4 training samples are broken"
    )
    assert "000001.jpg (Cannot decode" in err and "000003.jpg (Cannot decode" in err


def test_training_skips_a_label_whose_values_are_no_class(shapes, tmp_path):
    import numpy as np
    from PIL import Image

    data = copy_shapes(shapes, tmp_path / "data")
    label = os.path.join(data, "annotations", "train", "000003.png")
    values = np.asarray(Image.open(label)).copy()
    values[:4, :4] = 20  # class 19 (stored + 1) of a dataset of 7
    Image.fromarray(values).save(label)
    assert train(tmp_path, os.path.join(data, "custom_semantic.yaml")) == 0
    log = open(tmp_path / "out" / "log.txt").read()
    image = os.path.join(data, "images", "train", "000003.jpg")
    assert log.count(f"Skipped a broken training sample, {image}: ") == 1
    assert "19" in log.split(f"Skipped a broken training sample, {image}: ")[1].splitlines()[0]
    with open(tmp_path / "out" / "metrics.json") as f:
        metrics = [json.loads(line) for line in f]
    assert metrics[-1]["iteration"] == 2 and metrics[-1]["data/broken_samples"] == 1
