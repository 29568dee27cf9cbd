"""A training run killed with SIGKILL resumes (--resume) from its last checkpoint with the same
iteration, optimizer state and learning-rate schedule."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from train_helpers import QUICKSTART_SEMANTIC, REPO, TINY_TRAINING_OPTS, generate_tiny_shapes

MAX_ITER = 12


def _command(output_dir, resume):
    return [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file", QUICKSTART_SEMANTIC,
        *(["--resume"] if resume else []),
        *TINY_TRAINING_OPTS,
        "SOLVER.MAX_ITER", str(MAX_ITER),
        "SOLVER.CHECKPOINT_PERIOD", "2",
        "OUTPUT_DIR", str(output_dir),
    ]


@pytest.mark.slow
def test_killed_run_resumes_with_same_state(tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=generate_tiny_shapes(tmp_path / "datasets"))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    output_dir = tmp_path / "run"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(_command(output_dir, resume=False), env=env, stdout=log, stderr=log, cwd=REPO)
    tag = output_dir / "last_checkpoint"
    deadline = time.time() + 240
    while not tag.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # possibly in the middle of writing the next checkpoint
    first.wait()
    log.close()
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]

    # whatever the moment of the kill, the tag names a complete checkpoint
    last = torch.load(output_dir / tag.read_text(), weights_only=False)
    resumed_from = last["iteration"]
    assert resumed_from < MAX_ITER - 1
    assert last["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == resumed_from + 1

    second = subprocess.run(
        _command(output_dir, resume=True), env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stderr[-3000:]
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
