"""A training run killed with SIGKILL resumes (--resume) from its last checkpoint with the same
iteration, optimizer state and learning-rate schedule; its writers and the --eval-only path
(with test-time augmentation) work on the result."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers.paths import REPO
from helpers.training import (
    QUICKSTART_SEMANTIC,
    TINY_TRAINING_OPTS,
    generate_tiny_shapes,
)

MAX_ITER = 12


def _command(output_dir, resume, max_iter=MAX_ITER):
    return [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        QUICKSTART_SEMANTIC,
        *(["--resume"] if resume else []),
        *TINY_TRAINING_OPTS,
        "SOLVER.MAX_ITER",
        str(max_iter),
        "SOLVER.CHECKPOINT_PERIOD",
        "2",
        "OUTPUT_DIR",
        str(output_dir),
    ]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """Train, SIGKILL as soon as a checkpoint is tagged, resume to the end. Returns
    (output_dir, the checkpoint that was resumed, the resumed run's CompletedProcess)."""
    tmp_path = tmp_path_factory.mktemp("resume")
    datasets = generate_tiny_shapes(tmp_path / "datasets")
    env = dict(os.environ, DETECTRON2_DATASETS=datasets, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    output_dir = tmp_path / "run"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            _command(output_dir, resume=False), env=env, stdout=log, stderr=log, cwd=REPO
        )
        tag = output_dir / "last_checkpoint"
        deadline = time.time() + 300
        while not tag.exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # possibly in the middle of writing the next checkpoint
        first.wait()
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    # whatever the moment of the kill, the tag names a complete checkpoint
    resumed = torch.load(output_dir / tag.read_text(), weights_only=False)

    second = subprocess.run(
        _command(output_dir, resume=True),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    return output_dir, resumed, second, datasets


@pytest.mark.slow
def test_resumes_with_same_iteration_optimizer_and_schedule(killed_and_resumed):
    output_dir, resumed, second, _ = killed_and_resumed
    resumed_from = resumed["iteration"]
    assert resumed_from < MAX_ITER - 1
    assert resumed["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == resumed_from + 1
    assert f"Starting training from iteration {resumed_from + 1}" in second.stdout

    final = torch.load(output_dir / "model_final.pth", weights_only=False)
    assert final["iteration"] == MAX_ITER - 1
    # AdamW counted every step of both runs: its state was restored, not restarted
    optimizer = final["trainer"]["_trainer"]["optimizer"]
    assert {float(s["step"]) for s in optimizer["state"].values()} == {float(MAX_ITER)}
    # the schedule continued too: one scheduler step per iteration in total
    scheduler = final["trainer"]["hooks"]["LRScheduler"]
    assert scheduler["last_epoch"] == MAX_ITER
    assert scheduler["max_iters"] == MAX_ITER


@pytest.mark.slow
def test_finished_run_extends_with_a_longer_schedule(killed_and_resumed, tmp_path):
    """The finished run (MAX_ITER 12) resumed with MAX_ITER 16 trains 4 more iterations on the
    16-iteration poly schedule and says so (it used to end in "math domain error")."""
    finished, _, _, datasets = killed_and_resumed
    output_dir = tmp_path / "extended"
    shutil.copytree(finished, output_dir)
    env = dict(os.environ, DETECTRON2_DATASETS=datasets, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    longer = MAX_ITER + 4
    run = subprocess.run(
        _command(output_dir, resume=True, max_iter=longer),
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert f"Starting training from iteration {MAX_ITER}" in log
    assert f"SOLVER.MAX_ITER is {longer} in the config and {MAX_ITER} in the checkpoint" in log

    final = torch.load(output_dir / "model_final.pth", weights_only=False)
    assert final["iteration"] == longer - 1
    scheduler = final["trainer"]["hooks"]["LRScheduler"]
    assert scheduler["max_iters"] == longer and scheduler["last_epoch"] == longer
    optimizer = final["trainer"]["_trainer"]["optimizer"]
    assert {float(s["step"]) for s in optimizer["state"].values()} == {float(longer)}
    # the last iteration's learning rate (metrics.json, the head's parameter group)
    records = [json.loads(line) for line in (output_dir / "metrics.json").read_text().splitlines()]
    (last,) = [r for r in records if r.get("iteration") == longer - 1]
    base_lr = max(scheduler["base_lrs"])
    assert last["lr"] == pytest.approx(base_lr * (1 - (longer - 1) / longer) ** 0.9, rel=1e-6)


@pytest.mark.slow
def test_resume_sets_the_learning_rates_of_the_changed_schedule(killed_and_resumed, tmp_path):
    """Trainer.resume_or_load: the first resumed iteration of the extended run gets the new
    schedule's rate, not the checkpoint's (the old schedule's final 0)."""
    finished, _, _, datasets = killed_and_resumed
    output_dir = tmp_path / "extended"
    shutil.copytree(finished, output_dir)
    from mask2former.commands import train_net
    from mask2former.data.datasets import datasets_root, register_all
    from mask2former.engine import Trainer

    longer = MAX_ITER + 4
    argv = _command(output_dir, resume=True, max_iter=longer)[2:]  # after python train_net.py
    args = train_net.parse_args(argv)
    register_all(datasets)
    try:
        trainer = Trainer(train_net.setup(args))
        trainer.resume_or_load(resume=True)
    finally:
        register_all(datasets_root())
    assert trainer.start_iter == MAX_ITER
    checkpoint = torch.load(finished / "model_final.pth", weights_only=False)
    saved = checkpoint["trainer"]["_trainer"]["optimizer"]["param_groups"]
    assert {group["lr"] for group in saved} == {0.0}  # the end of the 12-iteration schedule
    factor = (1 - MAX_ITER / longer) ** 0.9  # warm-up is over
    lrs = [group["lr"] for group in trainer.optimizer.param_groups]
    expected = [base_lr * factor for base_lr in trainer.scheduler.base_lrs]
    assert lrs == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_progress_writers(killed_and_resumed):
    output_dir, _, second, _ = killed_and_resumed
    assert "eta:" in second.stdout and "total_loss:" in second.stdout and "lr:" in second.stdout
    assert (output_dir / "metrics.json").stat().st_size > 0
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(output_dir))


@pytest.mark.slow
def test_eval_only_with_test_time_augmentation(killed_and_resumed):
    output_dir, _, _, datasets = killed_and_resumed
    from mask2former.commands import train_net
    from mask2former.data.datasets import datasets_root, register_all

    register_all(datasets)
    try:
        args = train_net.parse_args(
            [
                "--config-file",
                QUICKSTART_SEMANTIC,
                "--eval-only",
                *TINY_TRAINING_OPTS,
                "MODEL.WEIGHTS",
                str(output_dir / "model_final.pth"),
                "DATASETS.TEST",
                "('shapes_sem_seg_val',)",
                "INPUT.MIN_SIZE_TEST",
                "64",
                "TEST.AUG.ENABLED",
                "True",
                "TEST.AUG.MIN_SIZES",
                "(48, 64)",
                "TEST.AUG.MAX_SIZE",
                "256",
                "OUTPUT_DIR",
                str(output_dir / "eval"),
            ]
        )
        results = train_net.main(args)
    finally:
        register_all(datasets_root())
    for key in ("sem_seg", "sem_seg_TTA"):
        assert 0.0 <= results[key]["mIoU"] <= 100.0, key
    assert results["sem_seg"] != results["sem_seg_TTA"]
