"""The model in a training log: one summary line on the console, the printout in the log file."""

import logging
import sys

from helpers.configs import make_tiny_cfg
from mask2former.engine import Trainer
from mask2former.engine.model_log import model_summary


def test_model_printout_goes_to_the_log_file_only(tmp_path, capsys):
    logger = logging.getLogger("detectron2.engine.defaults")  # where DefaultTrainer logs it
    parent = logging.getLogger("detectron2")
    console = logging.StreamHandler(sys.stdout)
    log_file = logging.FileHandler(tmp_path / "log.txt")
    old_level = parent.level
    parent.setLevel(logging.DEBUG)
    parent.addHandler(console)
    parent.addHandler(log_file)
    try:
        capsys.readouterr()
        model = Trainer.build_model(make_tiny_cfg())
    finally:
        parent.removeHandler(console)
        parent.removeHandler(log_file)
        parent.setLevel(old_level)
        log_file.close()
    assert logger.name.startswith(parent.name)
    total = sum(p.numel() for p in model.parameters())
    assert model_summary(model) == f"Model: MaskFormer, {total:,} parameters ({total:,} trainable)"
    shown = capsys.readouterr().out
    assert shown.count("\n") == 1 and model_summary(model) in shown
    written = (tmp_path / "log.txt").read_text()
    assert model_summary(model) in written and f"Model:\n{model}" in written
    assert len(written.splitlines()) > 100  # the whole printout
