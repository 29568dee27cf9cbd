"""Each quickstart config trains (its mapper chosen by INPUT.DATASET_MAPPER_NAME) and is
evaluated by the evaluators of its task, end to end on the generated data."""

import os

import pytest
from detectron2.config import get_cfg

from helpers.paths import REPO
from helpers.training import TINY_TRAINING_OPTS, generate_tiny_shapes
from mask2former import add_maskformer2_config
from mask2former.data.datasets import datasets_root, register_all
from mask2former.engine import Trainer

# result keys expected from each task's evaluators
EXPECTED_RESULTS = {
    "semantic": {"sem_seg"},
    "panoptic": {"panoptic_seg", "segm", "bbox", "sem_seg"},
    "instance": {"segm", "bbox"},
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = generate_tiny_shapes(tmp_path_factory.mktemp("datasets"))
    register_all(root)
    yield root
    register_all(datasets_root())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["panoptic", "instance"])
def test_quickstart_config_trains_and_evaluates(task, shapes, tmp_path):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.merge_from_file(os.path.join(REPO, "configs", "quickstart", f"{task}.yaml"))
    cfg.merge_from_list(TINY_TRAINING_OPTS)
    cfg.merge_from_list(
        [
            "SOLVER.MAX_ITER",
            "2",
            "INPUT.MIN_SIZE_TEST",
            "64",
            "DATASETS.TEST",
            f"('shapes_{task}_val',)",
            "OUTPUT_DIR",
            str(tmp_path),
        ]
    )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    assert set(results) == EXPECTED_RESULTS[task]
    assert (tmp_path / "model_final.pth").exists()
