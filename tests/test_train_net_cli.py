"""train_net.py's command line: every flag of the issue reaches Detectron2's launcher or main()."""
import os

import pytest

from train_helpers import QUICKSTART_SEMANTIC, REPO


@pytest.fixture
def train_net(monkeypatch):
    monkeypatch.syspath_prepend(REPO)
    import train_net

    return train_net


def test_distributed_flags_reach_the_launcher(train_net, monkeypatch):
    calls = []
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: calls.append((a, k)))
    train_net.cli([
        "--config-file", QUICKSTART_SEMANTIC, "--resume", "--num-gpus", "2", "--num-machines", "3",
        "--machine-rank", "1", "--dist-url", "tcp://10.0.0.1:1234", "SOLVER.MAX_ITER", "7",
    ])
    ((args, kwargs),) = calls
    assert args[0] is train_net.main and args[1] == 2
    assert kwargs["num_machines"] == 3 and kwargs["machine_rank"] == 1
    assert kwargs["dist_url"] == "tcp://10.0.0.1:1234"
    (parsed,) = kwargs["args"]
    assert parsed.resume and not parsed.eval_only
    assert parsed.config_file == QUICKSTART_SEMANTIC and parsed.opts == ["SOLVER.MAX_ITER", "7"]


def test_overrides_and_eval_only_reach_main(train_net, monkeypatch, tmp_path):
    """One process: launch() calls main() directly; --eval-only builds the model and evaluates
    with the overridden config (model and evaluation stubbed here, random weights allowed:
    the real --eval-only run is in test_train_resume)."""
    seen = {}

    def fake_test(cfg, model, evaluators=None):
        seen["cfg"] = cfg
        return {"sem_seg": {"mIoU": 1.0}}

    monkeypatch.setattr(train_net.Trainer, "test", staticmethod(fake_test))
    monkeypatch.setattr(train_net.Trainer, "build_model", staticmethod(lambda cfg: _Tiny()))
    train_net.cli([
        "--config-file", QUICKSTART_SEMANTIC, "--eval-only", "--random-weights",
        "MODEL.WEIGHTS", "", "OUTPUT_DIR", str(tmp_path), "SOLVER.BASE_LR", "0.5",
    ])
    cfg = seen["cfg"]
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.OUTPUT_DIR == str(tmp_path) and cfg.is_frozen()
    assert os.path.isfile(tmp_path / "config.yaml")  # written by default_setup


def _Tiny():
    import torch

    return torch.nn.Linear(1, 1)


def test_help_lists_the_flags(train_net, capsys):
    with pytest.raises(SystemExit):
        train_net.cli(["--help"])
    text = capsys.readouterr().out
    for flag in ("--config-file", "--eval-only", "--resume", "--num-gpus", "--num-machines",
                 "--machine-rank", "--dist-url", "--random-weights"):
        assert flag in text, flag
