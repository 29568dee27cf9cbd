"""Two training processes on CPU (Detectron2's launcher, DDP over Gloo) end with identical
weights."""

import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.engine import launch
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from helpers.training import (
    QUICKSTART_SEMANTIC,
    TINY_TRAINING_OPTS,
    generate_tiny_shapes,
)
from mask2former import add_maskformer2_config
from mask2former.engine import Trainer


def _train_and_save_parameters(opts, datasets_root, out_dir):
    """Runs in each spawned process: train, then save this rank's parameters."""
    torch.set_num_threads(1)
    from mask2former.data.datasets import register_all

    register_all(datasets_root)
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.merge_from_file(QUICKSTART_SEMANTIC)
    cfg.merge_from_list(opts)
    cfg.freeze()
    trainer = Trainer(cfg)
    assert isinstance(trainer.model, DistributedDataParallel)
    trainer.resume_or_load(resume=False)
    initial = {k: v.detach().clone() for k, v in trainer.model.module.named_parameters()}
    trainer.train()
    params = {k: v.detach() for k, v in trainer.model.module.named_parameters()}
    changed = sum(not torch.equal(initial[k], v) for k, v in params.items())
    torch.save(
        {"params": params, "changed": changed}, os.path.join(out_dir, f"rank{comm.get_rank()}.pth")
    )


@pytest.mark.slow
def test_two_cpu_processes_hold_identical_weights(tmp_path):
    datasets_root = generate_tiny_shapes(tmp_path / "datasets")
    opts = TINY_TRAINING_OPTS + [
        "SOLVER.MAX_ITER",
        "3",
        "SOLVER.CHECKPOINT_PERIOD",
        "100",
        "OUTPUT_DIR",
        str(tmp_path / "run"),
    ]
    launch(
        _train_and_save_parameters,
        2,
        dist_url="auto",
        args=(opts, datasets_root, str(tmp_path)),
    )
    rank0 = torch.load(tmp_path / "rank0.pth")
    rank1 = torch.load(tmp_path / "rank1.pth")
    assert rank0["changed"] > 0 and rank1["changed"] > 0  # training did update the weights
    assert rank0["params"].keys() == rank1["params"].keys()
    for name, value in rank0["params"].items():
        assert torch.equal(value, rank1["params"][name]), name
    assert (tmp_path / "run" / "model_final.pth").exists()  # written by rank 0
