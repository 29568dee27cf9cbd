"""Fine-tuning from weights trained for another number of classes (a published 150- or 133-class
model for a 5-class dataset): everything loads except the class head, which keeps its fresh
initialization, and one log line says which tensors were not loaded and why (their shape).
Tested with two models that differ only in their number of classes, in the .pth and .pkl
formats of the published checkpoints; training starts from them, evaluation refuses them."""

import logging
import os
import pickle

import pytest
import torch
from detectron2.modeling import build_model

from helpers.configs import make_tiny_cfg
from helpers.custom_data import user_dataset, write
from mask2former.checkpoint import MaskFormerCheckpointer, UntrainedModelError
from mask2former.engine.predictor import load_trained_weights

CLASS_HEAD = {
    # name: (shape in the 8-class checkpoint, shape in the 5-class model)
    "sem_seg_head.predictor.class_embed.weight": ((9, 32), (6, 32)),
    "sem_seg_head.predictor.class_embed.bias": ((9,), (6,)),
    "criterion.empty_weight": ((9,), (6,)),
}


@pytest.fixture(scope="module")
def eight_class_weights(tmp_path_factory):
    """{"pth": path, "pkl": path}: the weights of a tiny model of 8 classes in both formats."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(1)
    state = build_model(make_tiny_cfg(num_classes=8)).state_dict()
    torch.save({"model": state}, folder / "eight.pth")
    with open(folder / "eight.pkl", "wb") as f:  # Detectron2's model zoo format
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "test"}, f)
    return {"pth": str(folder / "eight.pth"), "pkl": str(folder / "eight.pkl"), "state": state}


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.mark.parametrize("file_format", ["pth", "pkl"])
def test_all_but_the_class_head_loads_with_one_log_line(eight_class_weights, file_format):
    torch.manual_seed(2)
    model = build_model(make_tiny_cfg(num_classes=5))
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    records = Records()
    checkpoint_logger = logging.getLogger("fvcore.common.checkpoint")
    level = checkpoint_logger.level
    checkpoint_logger.addHandler(records)
    checkpoint_logger.setLevel(logging.INFO)
    try:
        checkpointer = MaskFormerCheckpointer(model)
        checkpointer.load(eight_class_weights[file_format])
    finally:
        checkpoint_logger.removeHandler(records)
        checkpoint_logger.setLevel(level)
    path = eight_class_weights[file_format]
    # besides "Loading from ..." (and, for .pkl, "Reading a file from '<author>'"): one line,
    # no warning per tensor
    lines = [
        (lv, m)
        for lv, m in records.messages
        if not m.startswith(("[Checkpointer] Loading from", "Reading a file"))
    ]
    assert len(lines) == 1, records.messages
    ((level, line),) = lines
    total = len(checkpointer.last_report.loaded) + 3
    assert line == (
        f"Fine-tuning from {path} (the checkpoint's model has 8 classes, this one 5): loaded "
        f"{total - 3} of {total} tensors; the class head starts afresh, not loaded for its shape "
        "(checkpoint -> model): "
        + ", ".join(f"{name} {c} -> {m}" for name, (c, m) in CLASS_HEAD.items())
        + "."
    )
    assert level == logging.INFO
    source = eight_class_weights["state"]
    for name, tensor in model.state_dict().items():
        if name in CLASS_HEAD:
            assert torch.equal(tensor, fresh[name]), name  # its own initialization, kept
        else:
            assert torch.equal(tensor, source[name]), name


def test_evaluation_refuses_such_weights(eight_class_weights):
    checkpointer = MaskFormerCheckpointer(build_model(make_tiny_cfg(num_classes=5)))
    with pytest.raises(UntrainedModelError, match="sem_seg_head: 2 of .* of another shape"):
        load_trained_weights(checkpointer, eight_class_weights["pth"], resume=False, hint="")


def test_training_starts_from_such_weights(eight_class_weights, tmp_path):
    data = user_dataset(tmp_path / "user")  # 7 classes
    base = write(tmp_path / "tiny.yaml", make_tiny_cfg().dump())
    from mask2former.commands import train_net

    out = tmp_path / "out"
    assert (
        train_net.cli(
            [
                "--config-file",
                base,
                "--dataset",
                os.path.join(data, "custom_semantic.yaml"),
                "MODEL.WEIGHTS",
                eight_class_weights["pkl"],
                "SOLVER.MAX_ITER",
                "1",
                "SOLVER.IMS_PER_BATCH",
                "2",
                "DATALOADER.NUM_WORKERS",
                "0",
                "DATASETS.TEST",
                "()",
                "OUTPUT_DIR",
                str(out),
            ]
        )
        == 0
    )
    log = open(out / "log.txt").read()
    assert (
        log.count("Fine-tuning from") == 1
        and "(the checkpoint's model has 8 classes, this one 7)" in log
    )
    assert "Skip loading parameter" not in log
    trained = torch.load(out / "model_final.pth", weights_only=True)["model"]
    assert trained["sem_seg_head.predictor.class_embed.weight"].shape == (8, 32)
