"""The shared entry-point conventions (mask2former.cli): a UserError is one line and exit
status 2; config overrides in one form; the device rule; the output folder check."""

import argparse
import os

import pytest

from helpers.configs import make_tiny_cfg
from mask2former.cli import (
    DEBUG_ENV,
    CudaUnavailableError,
    OutputNotWritableError,
    add_config_arguments,
    check_device,
    check_output_dir,
    config_overrides,
    run_cli,
    split_trailing_overrides,
)
from mask2former.config import ConfigKeyError
from mask2former.errors import UsageError, UserError


def _failing(argv):
    raise ConfigKeyError("a.yaml: unknown config key X.Y")


def test_user_error_is_one_line_and_status_2(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_cli(_failing, [], prog="tool") == 2
    err = capsys.readouterr().err
    assert err == "tool: error: a.yaml: unknown config key X.Y\n"


@pytest.mark.parametrize("argv, env", [(["--debug"], None), ([], "1")])
def test_debug_shows_the_traceback(argv, env, monkeypatch):
    if env is None:
        monkeypatch.delenv(DEBUG_ENV, raising=False)
    else:
        monkeypatch.setenv(DEBUG_ENV, env)
    with pytest.raises(UserError):
        run_cli(_failing, argv, prog="tool")


def test_status_of_main_is_returned(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_cli(lambda argv: None, []) == 0
    assert run_cli(lambda argv: 1, []) == 1
    with pytest.raises(RuntimeError):  # not the user's mistake: keeps its traceback
        run_cli(lambda argv: (_ for _ in ()).throw(RuntimeError("bug")), [])


# --- the shared command line: config overrides, device rule, output folder -----------------


def _parse(argv, **kwargs):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--input", nargs="+")
    args = add_config_arguments(parser, **kwargs).parse_args(argv)
    inputs, trailing = split_trailing_overrides(args.input or [])
    return args, inputs, config_overrides(args, trailing)


def test_overrides_positional_after_options_and_after_opts():
    for argv in (
        ["--config-file", "c.yaml", "A.B", "1", "C.D", "x"],
        ["--config-file", "c.yaml", "A.B", "1", "--opts", "C.D", "x"],
        ["--config-file", "c.yaml", "--opts", "A.B", "1", "C.D", "x"],
        ["--input", "a.png", "A.B", "1", "C.D", "x", "--config-file", "c.yaml"],
    ):
        args, _, opts = _parse(argv)
        assert opts == ["A.B", "1", "C.D", "x"], argv
        assert args.config_file == "c.yaml"


def test_many_valued_option_ends_at_the_first_config_key(tmp_path):
    (tmp_path / "MODEL.WEIGHTS").write_text("an existing file is an input, whatever its name")
    inputs, opts = split_trailing_overrides(["a.png", "b/*.jpg", "MODEL.WEIGHTS", "w.pth"])
    assert inputs == ["a.png", "b/*.jpg"] and opts == ["MODEL.WEIGHTS", "w.pth"]
    existing = str(tmp_path / "MODEL.WEIGHTS")
    assert split_trailing_overrides(["a.png", existing]) == (["a.png", existing], [])
    assert split_trailing_overrides(["model.weights.png"]) == (["model.weights.png"], [])


def test_malformed_overrides_are_usage_errors():
    with pytest.raises(UsageError, match="KEY VALUE pairs, got 3 words: A.B 1 C.D"):
        _parse(["--config-file", "c.yaml", "A.B", "1", "C.D"])
    with pytest.raises(
        UsageError, match="--input comes after the config overrides: give the options first"
    ):
        _parse(["--config-file", "c.yaml", "A.B", "1", "--input", "a.png"])


def test_config_file_default_and_debug_flag():
    args, _, _ = _parse(["--debug"], default_config="coco/panoptic_R50.yaml")
    assert args.config_file == "coco/panoptic_R50.yaml" and args.debug
    with pytest.raises(SystemExit):  # required when there is no default
        _parse([])


def test_cuda_without_a_gpu_falls_back_or_stops(monkeypatch, caplog):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cfg = make_tiny_cfg()
    cfg.MODEL.DEVICE = "cuda"
    with pytest.raises(
        CudaUnavailableError, match=r"'cuda' but no CUDA device .* `MODEL.DEVICE cpu`"
    ):
        check_device(cfg, fallback_to_cpu=False)
    assert cfg.MODEL.DEVICE == "cuda"
    cfg.freeze()
    check_device(cfg, fallback_to_cpu=True)
    assert cfg.MODEL.DEVICE == "cpu" and cfg.is_frozen()
    assert "running on the CPU" in caplog.text
    check_device(cfg, fallback_to_cpu=False)  # the CPU needs nothing


def test_cuda_index_beyond_the_devices_stops(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    cfg = make_tiny_cfg()
    cfg.MODEL.DEVICE = "cuda:1"
    check_device(cfg, fallback_to_cpu=False)
    cfg.MODEL.DEVICE = "cuda:2"
    with pytest.raises(CudaUnavailableError, match="this machine has 2 CUDA device"):
        check_device(cfg, fallback_to_cpu=False, setting="--device", cpu_hint="pass `--device cpu`")


def test_output_folder_check_creates_nothing(tmp_path):
    check_output_dir(str(tmp_path / "new" / "deeper"), "`OUTPUT_DIR x`")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        OutputNotWritableError,
        match=r"file/run \(.*file is a file\): choose another with `OUTPUT_DIR x`",
    ):
        check_output_dir(str(tmp_path / "file" / "run"), "`OUTPUT_DIR x`")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputNotWritableError, match="no permission to write"):
            check_output_dir(str(locked / "run"), "`OUTPUT_DIR x`")
