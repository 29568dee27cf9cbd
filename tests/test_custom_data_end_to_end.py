"""The worked example of docs/custom_data.md, end to end through the entry points a user types:
the generated shapes dataset saved as a user has it (JPEG images, label PNGs, COCO JSON files),
described by the guide's description files, is checked (tools/check_dataset.py), trained on
for a few iterations and evaluated with its task's evaluators (train_net.py), and drawn with
the class names of the description (demo/demo.py)."""

import json
import logging
import os

import pytest

from helpers.custom_data import user_dataset
from helpers.scripts import load_script
from helpers.training import TINY_TRAINING_OPTS
from mask2former.cli import run_cli

# the result keys of each task's evaluators
RESULTS = {
    "semantic": {"sem_seg"},
    "instance": {"segm", "bbox"},
    "panoptic": {"panoptic_seg", "segm", "bbox", "sem_seg"},
}
# the tiny training of the training tests, evaluating on the described val split
OPTS = [
    *(
        o
        for pair in zip(TINY_TRAINING_OPTS[::2], TINY_TRAINING_OPTS[1::2])
        if pair[0] != "DATASETS.TEST"
        for o in pair
    ),
    "SOLVER.MAX_ITER",
    "2",
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "96",
]


@pytest.fixture(scope="module")
def scripts():
    from mask2former.commands import train_net

    return (
        train_net,
        load_script("tools/check_dataset.py", "check_dataset_tool"),
        load_script("demo/demo.py", "demo_cli"),
    )


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return user_dataset(tmp_path_factory.mktemp("user"))


@pytest.mark.slow
@pytest.mark.parametrize("task", ["semantic", "instance", "panoptic"])
def test_describe_check_train_evaluate_draw(scripts, shapes, task, tmp_path, caplog, monkeypatch):
    train_net, check_tool, demo = scripts
    description = os.path.join(shapes, f"custom_{task}.yaml")
    config = f"quickstart/{task}.yaml"

    checked = [
        description,
        "--output",
        str(tmp_path / "check"),
        "--pictures",
        "1",
        "--workers",
        "1",
    ]
    assert run_cli(check_tool.main, checked) == 0

    out = tmp_path / "train"  # (evaluated once, below)
    argv = [
        "--config-file",
        config,
        "--dataset",
        description,
        *OPTS,
        "DATASETS.TEST",
        "()",
        "OUTPUT_DIR",
        str(out),
    ]
    assert train_net.cli(argv) == 0
    with open(out / "metrics.json") as f:
        assert [json.loads(line)["iteration"] for line in f][-1] == 1

    weights = str(out / "model_final.pth")
    args = train_net.parse_args(
        [
            "--config-file",
            config,
            "--dataset",
            description,
            "--eval-only",
            *OPTS,
            "MODEL.WEIGHTS",
            weights,
            "OUTPUT_DIR",
            str(tmp_path / "eval"),
        ]
    )
    train_net.check_before_launch(args)
    results = train_net.main(args)
    assert set(results) == RESULTS[task]
    if task == "semantic":
        assert set(results["sem_seg"]) >= {
            f"IoU-{c}" for c in ("circle", "star", "wall")
        }  # the description's names
        predictions = str(tmp_path / "eval" / "inference" / "sem_seg_predictions.json")
        pq_tool = load_script("tools/evaluate_pq_for_semantic_segmentation.py", "pq_tool")
        monkeypatch.chdir(shapes)  # a name that training has not registered: relative to here
        pq_tool.main(
            [
                "--dataset-name",
                f"custom_{task}.yaml:val",
                "--json-file",
                predictions,
                "--output",
                str(tmp_path / "pq.json"),
            ]
        )
        with open(tmp_path / "pq.json") as f:
            pq = json.load(f)
        assert pq["num_images"] == 2 and pq["mIoU"] == pytest.approx(
            results["sem_seg"]["mIoU"], abs=1e-6
        )

    image = os.path.join(shapes, "images", "val", "000001.jpg")
    with caplog.at_level(logging.INFO):
        assert (
            demo.main(
                [
                    "--config-file",
                    config,
                    "--dataset",
                    description,
                    "--input",
                    image,
                    "--output",
                    str(tmp_path / "drawn"),
                    "--confidence-threshold",
                    "0",
                    *OPTS,
                    "MODEL.WEIGHTS",
                    weights,
                ]
            )
            == 0
        )
    assert os.listdir(tmp_path / "drawn") == ["000001.jpg"]
    assert (
        f"{image}: " in caplog.text and "class <index>" not in caplog.text
    )  # the description's class names
