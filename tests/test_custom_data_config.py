"""A config names a described dataset (``my_data.yaml:train``, relative to the YAML file that
names it, or to the working directory on the command line), or ``--dataset FILE`` does; the
model's number of classes follows the dataset, and a config that states another one where it
names the dataset is refused, naming both numbers and the dataset."""

import argparse
import os

import pytest
from detectron2.data import DatasetCatalog

from helpers.configs import make_tiny_cfg
from helpers.custom_data import user_dataset, write
from helpers.scripts import load_script
from mask2former.cli import add_config_arguments, config_overrides, load_config
from mask2former.config import ConfigValueError
from mask2former.data.datasets import DescriptionError


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return user_dataset(tmp_path_factory.mktemp("user"))


@pytest.fixture
def tiny_base(tmp_path):
    """A base config (the tiny model, 5 classes), as a published config would be."""
    return write(tmp_path / "base" / "tiny.yaml", make_tiny_cfg().dump())


def _experiment(tmp_path, tiny_base, body: str) -> str:
    return write(tmp_path / "experiments" / "exp.yaml", f"_BASE_: {tiny_base}\n{body}")


def test_a_config_names_a_description_relative_to_itself(shapes, tmp_path, tiny_base, monkeypatch):
    relative = os.path.relpath(
        os.path.join(shapes, "custom_semantic.yaml"), tmp_path / "experiments"
    )
    config = _experiment(
        tmp_path,
        tiny_base,
        f"DATASETS:\n  TRAIN: ['{relative}:train']\n  TEST: ['{relative}:val']\n",
    )
    monkeypatch.chdir(shapes)  # anywhere else
    cfg = load_config(config)
    assert cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 7  # the base's 5 replaced by the dataset's
    assert (
        len(DatasetCatalog.get(f"{relative}:train")) == 4
        and len(DatasetCatalog.get("custom_semantic_val")) == 2
    )


def test_the_command_line_names_a_description_relative_to_the_working_directory(
    shapes, tmp_path, tiny_base, monkeypatch
):
    monkeypatch.chdir(shapes)
    cfg = load_config(
        tiny_base,
        [
            "DATASETS.TRAIN",
            "('custom_instance.yaml:train',)",
            "INPUT.DATASET_MAPPER_NAME",
            "mask_former_instance",
        ],
    )
    assert cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 4
    assert len(DatasetCatalog.get("custom_instance.yaml:train")) == 4


def test_a_number_of_classes_stated_where_the_dataset_is_named_must_be_the_datasets(
    shapes, tmp_path, tiny_base
):
    entry = f"{shapes}/custom_semantic.yaml:train"
    config = _experiment(
        tmp_path,
        tiny_base,
        f"DATASETS:\n  TRAIN: ['{entry}']\nMODEL:\n  SEM_SEG_HEAD:\n    NUM_CLASSES: 6\n",
    )
    with pytest.raises(ConfigValueError) as info:
        load_config(config)
    assert str(info.value) == (
        f"MODEL.SEM_SEG_HEAD.NUM_CLASSES = 6 (in {config}) but dataset {entry} "
        f"({shapes}/custom_semantic.yaml) has 7 classes: remove the setting (the number follows "
        "the dataset) or make it 7"
    )
    assert (
        load_config(config, ["MODEL.SEM_SEG_HEAD.NUM_CLASSES", "7"]).MODEL.SEM_SEG_HEAD.NUM_CLASSES
        == 7
    )
    with pytest.raises(
        ConfigValueError, match=r"NUM_CLASSES = 8 \(on the command line\) but dataset"
    ):
        load_config(
            tiny_base, ["DATASETS.TRAIN", f"('{entry}',)", "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "8"]
        )


def test_datasets_of_different_classes_are_refused(shapes, tiny_base):
    with pytest.raises(
        ConfigValueError,
        match=r"custom_semantic.yaml:train \(7 classes, .*\) and .*custom_instance.yaml:val \(4 classes",
    ):
        load_config(
            tiny_base,
            [
                "DATASETS.TRAIN",
                f"('{shapes}/custom_semantic.yaml:train',)",
                "DATASETS.TEST",
                f"('{shapes}/custom_instance.yaml:val',)",
            ],
        )


def test_a_mapper_of_another_task_is_refused(shapes, tiny_base):
    with pytest.raises(ConfigValueError) as info:
        load_config(tiny_base, ["DATASETS.TRAIN", f"('{shapes}/custom_instance.yaml:train',)"])
    assert str(info.value).startswith(
        f"INPUT.DATASET_MAPPER_NAME = 'mask_former_semantic' (in {tiny_base}) cannot train on "
        f"{shapes}/custom_instance.yaml:train, an instance dataset"
    )
    assert "or INPUT.DATASET_MAPPER_NAME mask_former_instance" in str(info.value)


def _parse(argv):
    parser = add_config_arguments(argparse.ArgumentParser())
    args = parser.parse_args(argv)
    return config_overrides(args)


def test_dataset_option_names_the_train_and_val_splits(shapes, tiny_base, monkeypatch):
    monkeypatch.chdir(shapes)
    opts = _parse(
        ["--config-file", tiny_base, "--dataset", "custom_panoptic.yaml", "SOLVER.MAX_ITER", "3"]
    )
    path = os.path.join(shapes, "custom_panoptic.yaml")
    assert opts == [
        "DATASETS.TRAIN",
        repr((f"{path}:train",)),
        "DATASETS.TEST",
        repr((f"{path}:val",)),
        "SOLVER.MAX_ITER",
        "3",
    ]
    cfg = load_config(tiny_base, opts + ["INPUT.DATASET_MAPPER_NAME", "mask_former_panoptic"])
    assert cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 7 and cfg.DATASETS.TEST == (f"{path}:val",)


def test_dataset_option_without_val_split_evaluates_on_nothing(shapes, tmp_path):
    path = write(
        tmp_path / "only.yaml",
        f"task: instance\nsplits: {{train: {{image_root: {shapes}/images/train, json_file: {shapes}/instances_train.json}}}}\n",
    )
    assert _parse(["--config-file", "x", "--dataset", path]) == [
        "DATASETS.TRAIN",
        repr((f"{path}:train",)),
        "DATASETS.TEST",
        "()",
    ]


def test_dataset_option_reports_a_bad_description_at_once(tmp_path):
    with pytest.raises(DescriptionError, match="does not exist"):
        _parse(["--config-file", "x", "--dataset", str(tmp_path / "nothing.yaml")])


def test_analyze_model_takes_the_dataset_option(shapes, tiny_base):
    """tools/analyze_model.py counts the model of the dataset's classes over its val images."""
    from detectron2.modeling import build_model

    description = os.path.join(shapes, "custom_semantic.yaml")
    results = load_script("tools/analyze_model.py", "analyze_model_tool").run(
        [
            "--tasks",
            "parameter",
            "flop",
            "-n",
            "2",
            "--random-weights",
            "--config-file",
            tiny_base,
            "--dataset",
            description,
            "INPUT.MIN_SIZE_TEST",
            "64",
            "INPUT.MAX_SIZE_TEST",
            "96",
        ]
    )
    assert results["parameter"] == sum(
        p.numel() for p in build_model(make_tiny_cfg(num_classes=7)).parameters()
    )
    assert len(results["flop"]["totals"]) == 2  # the 2 images of the val split
