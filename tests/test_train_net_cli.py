"""train_net.py's command line: every flag of the issue reaches Detectron2's launcher or main();
every mistake a new user makes is one line and exit status 2, before anything is launched."""

import os
import socket
import subprocess
import sys

import pytest

from helpers.paths import REPO
from helpers.training import QUICKSTART_SEMANTIC, eval_only_args, launcher_args, stub_evaluation


@pytest.fixture
def train_net():
    """The command behind train_net.py (which only calls its ``cli``)."""
    from mask2former.commands import train_net

    return train_net


def test_distributed_flags_reach_the_launcher(train_net, monkeypatch, shapes_root):
    calls = []
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: calls.append((a, k)))
    assert train_net.cli(launcher_args(QUICKSTART_SEMANTIC)) == 0
    ((args, kwargs),) = calls
    assert args[0] is train_net.main and args[1] == 2
    assert kwargs["num_machines"] == 3 and kwargs["machine_rank"] == 1
    assert kwargs["dist_url"] == "tcp://10.0.0.1:1234"
    (parsed,) = kwargs["args"]
    assert parsed.resume and not parsed.eval_only
    assert parsed.config_file == QUICKSTART_SEMANTIC and parsed.opts == ["SOLVER.MAX_ITER", "7"]


def test_overrides_and_eval_only_reach_main(train_net, monkeypatch, tmp_path, shapes_root):
    """One process: launch() calls main() directly; --eval-only builds the model and evaluates
    with the overridden config (model and evaluation stubbed here, random weights allowed:
    the real --eval-only run is in test_train_resume)."""
    seen = stub_evaluation(monkeypatch, train_net.Trainer, {"sem_seg": {"mIoU": 1.0}})
    train_net.cli(eval_only_args(QUICKSTART_SEMANTIC, tmp_path, "SOLVER.BASE_LR", "0.5"))
    cfg = seen["cfg"]
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.OUTPUT_DIR == str(tmp_path) and cfg.is_frozen()
    assert os.path.isfile(tmp_path / "config.yaml")  # written by default_setup


def test_help_lists_the_flags(train_net, capsys):
    with pytest.raises(SystemExit):
        train_net.cli(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--config-file",
        "--eval-only",
        "--resume",
        "--num-gpus",
        "--num-machines",
        "--machine-rank",
        "--dist-url",
        "--random-weights",
    ):
        assert flag in text, flag


def test_config_by_name_and_opts_alias(train_net, monkeypatch, shapes_root):
    """--config-file takes a shipped config's name (from any folder); --opts is an alias of
    the positional overrides."""
    calls = []
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: calls.append(k["args"][0]))
    monkeypatch.chdir(shapes_root)
    assert (
        train_net.cli(
            ["--config-file", "quickstart/semantic.yaml", "--opts", "SOLVER.MAX_ITER", "7"]
        )
        == 0
    )
    (parsed,) = calls
    assert parsed.config_file == QUICKSTART_SEMANTIC and parsed.opts == ["SOLVER.MAX_ITER", "7"]


def test_eval_only_of_a_published_config_names_its_trained_weights(
    train_net, monkeypatch, tmp_path, capsys, shapes_root
):
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.chdir(tmp_path)
    argv = [
        "--config-file",
        SWIN_T,
        "--eval-only",
        *SWIN_T_HERE,
        "OUTPUT_DIR",
        str(tmp_path / "run"),
    ]
    assert train_net.cli(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "MODEL.WEIGHTS file not found: swin_tiny_patch4_window7_224.pkl" in err
    )
    assert ("`MODEL.WEIGHTS https://dl.fbaipublicfiles.com/maskformer/mask2former/ade20k/semantic/"
            "maskformer2_swin_tiny_bs16_160k/model_final_") in err  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SWIN_T = "ade20k/semantic-segmentation/swin/maskformer2_swin_tiny_bs16_160k.yaml"
# a published config made runnable here: CPU, the generated dataset
SWIN_T_HERE = ["MODEL.DEVICE", "cpu", "DATASETS.TRAIN", "('shapes_sem_seg_train',)",
               "DATASETS.TEST", "('shapes_sem_seg_val',)"]  # fmt: skip
MISTAKES = {
    "cuda config, no GPU": (
        ["MODEL.DEVICE", "cuda"],
        "MODEL.DEVICE is 'cuda' but no CUDA device is available: add `MODEL.DEVICE cpu`",
    ),
    "missing config file": (
        ["--config-file", "quickstart/semantik.yaml"],
        "config file quickstart/semantik.yaml not found: it is not a file (relative to",
    ),
    "missing weights file": (
        ["MODEL.WEIGHTS", "{tmp}/nowhere/model_final.pth"],
        "MODEL.WEIGHTS file not found: {tmp}/nowhere/model_final.pth",
    ),
    "ImageNet weights not converted": (
        ["--config-file", SWIN_T, *SWIN_T_HERE],
        "swin_tiny_patch4_window7_224.pkl is the ImageNet Swin backbone in Detectron2's format: "
        "download https://github.com/SwinTransformer/storage/releases/download/v1.0.0/"
        "swin_tiny_patch4_window7_224.pth and convert it with "
        "`python tools/convert-pretrained-swin-model-to-d2.py",
    ),
    "weights URL offline": (
        ["MODEL.WEIGHTS", "http://127.0.0.1:{port}/ImageNetPretrained/R-50.pkl"],
        "cannot download MODEL.WEIGHTS http://127.0.0.1:{port}/ImageNetPretrained/R-50.pkl",
    ),
    "unknown dataset name": (
        ["DATASETS.TRAIN", "('shapes_sem_seg_trian',)"],
        "DATASETS.TRAIN: no dataset named 'shapes_sem_seg_trian' is registered; did you mean "
        "shapes_sem_seg_train",
    ),
    "unknown config key": (
        ["SOLVER.MAX_ITERS", "10"],
        "command-line override SOLVER.MAX_ITERS: unknown config key",
    ),
    "unwritable output folder": (
        ["OUTPUT_DIR", "{tmp}/a_file/run"],
        "cannot write to the output folder {tmp}/a_file/run ({tmp}/a_file is a file): choose "
        "another with `OUTPUT_DIR path/to/folder`",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistakes_are_one_line_before_launch(
    train_net, mistake, monkeypatch, tmp_path, capsys, shapes_root
):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    extra, expected = MISTAKES[mistake]
    port = _closed_port()
    extra = [a.format(tmp=tmp_path, port=port) for a in extra]
    argv = ["--config-file", QUICKSTART_SEMANTIC, "OUTPUT_DIR", str(tmp_path / "run")]
    if extra[0] == "--config-file":
        argv = extra[:2] + argv[2:] + extra[2:]
    else:
        argv += extra
    assert train_net.cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("train_net.py: error: "), err
    assert expected.format(tmp=tmp_path, port=port) in err


def test_missing_dataset_folder_is_one_line(train_net, monkeypatch, tmp_path, capsys):
    from mask2former.data.datasets import datasets_root, register_all_shapes

    monkeypatch.setattr(train_net, "launch", lambda *a, **k: pytest.fail("launched"))
    register_all_shapes(str(tmp_path / "empty"))
    try:
        rc = train_net.cli(
            ["--config-file", QUICKSTART_SEMANTIC, "OUTPUT_DIR", str(tmp_path / "run")]
        )
    finally:
        register_all_shapes(datasets_root())
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert (
        f"Dataset 'shapes_sem_seg_train' is not where it was registered: missing {tmp_path}/empty/shapes"
        in err
    )


def test_script_error_is_the_only_output(tmp_path):
    """The script as typed: one line on stderr (no warnings of imported libraries), nothing
    on stdout, exit status 2."""
    command = [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", "nowhere.yaml"]
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("train_net.py: error: config file nowhere.yaml not found")
    assert result.stderr.count("\n") == 1, result.stderr


def test_debug_shows_the_traceback(train_net, monkeypatch):
    from mask2former.model_zoo import ConfigFileNotFoundError

    monkeypatch.delenv("MASK2FORMER_DEBUG", raising=False)
    with pytest.raises(ConfigFileNotFoundError, match="nowhere.yaml not found"):
        train_net.cli(["--config-file", "nowhere.yaml", "--debug"])
