"""Weights never run code (weights_only=True explicitly, whatever the environment says), a model
left partly untrained by its weights is refused where it would be evaluated or drawn, the
load summary counts weights only, and checkpoints this project writes honour the umask, leave
no temporary files behind, carry a checksum of their tensors, and --resume falls back past a
damaged last checkpoint."""

import ast
import logging
import os
import stat
from pathlib import Path

import pytest
import torch
from detectron2.modeling import build_model
from torch import nn

from helpers.configs import make_tiny_cfg, tiny_config_file
from helpers.paths import REPO
from helpers.scripts import load_script, onnx_export_args
from mask2former.checkpoint import (
    CheckpointReadError,
    CorruptCheckpointError,
    MaskFormerCheckpointer,
    UntrainedModelError,
    read_checkpoint,
)
from mask2former.checkpoint.checksum import CHECKSUM_KEY
from mask2former.engine import AtomicCheckpointer
from mask2former.engine.predictor import MaskFormerPredictor, MissingWeightsError


class _RunsCode:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny_model(**changes):
    cfg = make_tiny_cfg()
    for key, value in changes.items():
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return build_model(cfg).eval(), cfg


def _weights_only_count(model) -> int:
    return sum(1 for k in model.state_dict() if not k.endswith("num_batches_tracked"))


# ---- 2. weights never run code ----


@pytest.fixture
def forced_unsafe_load(monkeypatch):
    """The common workaround for old checkpoints, which makes torch.load unpickle anything
    unless the caller passes weights_only=True itself."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


@pytest.mark.parametrize(
    "suffix,key", [(".pth", "model"), (".pt", "model"), (".pyth", "model_state")]
)
def test_crafted_torch_file_runs_nothing(tmp_path, forced_unsafe_load, suffix, key):
    marker = tmp_path / "created_by_the_checkpoint"
    model, _ = _tiny_model()
    path = tmp_path / f"evil{suffix}"
    torch.save({key: model.state_dict(), "payload": _RunsCode(marker)}, path)

    with pytest.raises(CheckpointReadError, match=rf"^{path}: holds objects other than tensors"):
        MaskFormerCheckpointer(model).load(str(path))
    with pytest.raises(CheckpointReadError, match="--trust-pickle"):
        read_checkpoint(str(path))
    assert not marker.exists()


def test_crafted_checkpoint_runs_nothing_through_resume_and_predictor(tmp_path, forced_unsafe_load):
    marker = tmp_path / "created_by_the_checkpoint"
    model, cfg = _tiny_model()
    torch.save(
        {"model": model.state_dict(), "payload": _RunsCode(marker)}, tmp_path / "model_0000009.pth"
    )
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    with pytest.raises(CheckpointReadError, match="no other checkpoint"):
        AtomicCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)

    cfg.MODEL.WEIGHTS = str(tmp_path / "model_0000009.pth")
    with pytest.raises(CheckpointReadError):
        MaskFormerPredictor(cfg)
    assert not marker.exists()


def _torch_load_calls_without_weights_only(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"
            and not any(k.arg == "weights_only" for k in node.keywords)
        ):
            yield f"{path.relative_to(REPO)}:{node.lineno}"


def test_every_torch_load_outside_tests_says_weights_only():
    files = [
        p
        for p in REPO.rglob("*.py")
        if not {"tests", ".venv", "build"} & set(p.relative_to(REPO).parts)
    ]
    assert len(files) > 50
    offenders = [call for path in files for call in _torch_load_calls_without_weights_only(path)]
    assert not offenders


# ---- 3. random weights evaluated or drawn as if trained ----


@pytest.fixture
def mismatched_checkpoint(tmp_path):
    """A .pth with every tensor name of the tiny model, of other shapes in the stem and all
    through the head (a model of another width and number of classes)."""
    other, _ = _tiny_model(
        **{
            "MODEL.RESNETS.STEM_OUT_CHANNELS": 8,
            "MODEL.SEM_SEG_HEAD.CONVS_DIM": 64,
            "MODEL.SEM_SEG_HEAD.MASK_DIM": 64,
            "MODEL.MASK_FORMER.HIDDEN_DIM": 16,
            "MODEL.MASK_FORMER.DIM_FEEDFORWARD": 40,
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES": 3,
            "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES": 6,
        }
    )
    path = tmp_path / "other_model.pth"
    torch.save({"model": other.state_dict()}, path)
    return path


def test_summary_counts_weights_not_batch_counters(mismatched_checkpoint):
    model, _ = _tiny_model()
    checkpointer = MaskFormerCheckpointer(model)
    checkpointer.load(str(mismatched_checkpoint))
    report = checkpointer.last_report
    assert any(
        k.endswith("num_batches_tracked") for k in model.state_dict()
    )  # BN in the tiny ResNet
    assert not any(k.endswith("num_batches_tracked") for k in report.loaded + report.missing)
    assert len(report.loaded) + len(report.incorrect_shapes) == _weights_only_count(model)
    assert {"backbone", "sem_seg_head"} <= {
        name.split(".")[0] for name, _, _ in report.incorrect_shapes
    }
    assert report.summary().startswith(
        f"Loaded {len(report.loaded)} of {_weights_only_count(model)} model tensors"
    )


def test_file_without_a_matching_tensor_loads_zero(tmp_path):
    model, _ = _tiny_model()
    path = tmp_path / "unrelated.pth"
    torch.save({"model": {"something.else": torch.zeros(3)}}, path)
    checkpointer = MaskFormerCheckpointer(model)
    checkpointer.load(str(path))
    assert checkpointer.last_report.summary().startswith(
        f"Loaded 0 of {_weights_only_count(model)} model tensors"
    )


def test_shape_mismatched_weights_are_refused_by_the_predictor(mismatched_checkpoint):
    _, cfg = _tiny_model()
    cfg.MODEL.WEIGHTS = str(mismatched_checkpoint)
    with pytest.raises(UntrainedModelError) as info:
        MaskFormerPredictor(cfg)
    message = str(info.value)
    assert message.startswith(f"{mismatched_checkpoint} does not hold trained weights")
    assert "backbone: " in message and "sem_seg_head: " in message and "of another shape" in message
    assert "--random-weights" in message and "\n" not in message


@pytest.fixture
def train_net_eval(monkeypatch, tmp_path, shapes_root):
    """train_net.main --eval-only on the tiny model, evaluation stubbed: returns run(argv)
    giving the model that was evaluated (None if evaluation was not reached). Errors propagate
    (``MASK2FORMER_DEBUG``) instead of becoming train_net's one-line report."""
    monkeypatch.setenv("MASK2FORMER_DEBUG", "1")
    from mask2former.commands import train_net  # the command behind train_net.py

    evaluated = []
    monkeypatch.setattr(
        train_net.Trainer, "build_model", staticmethod(lambda cfg: _tiny_model()[0])
    )
    monkeypatch.setattr(
        train_net.Trainer,
        "test",
        staticmethod(lambda cfg, model, evaluators=None: evaluated.append(model) or {}),
    )
    monkeypatch.setattr(train_net, "launch", lambda main, n, args=(), **k: main(*args))
    config = str(REPO / "configs/quickstart/semantic.yaml")

    def run(*argv):
        evaluated.clear()
        train_net.cli(
            ["--config-file", config, "--eval-only", *argv, "OUTPUT_DIR", str(tmp_path / "out")]
        )
        return evaluated[0] if evaluated else None

    return run


def test_eval_only_refuses_missing_or_unfitting_weights(
    train_net_eval, mismatched_checkpoint, tmp_path
):
    with pytest.raises(MissingWeightsError, match="sets no MODEL.WEIGHTS"):
        train_net_eval("MODEL.WEIGHTS", "")
    with pytest.raises(UntrainedModelError, match="backbone: .*sem_seg_head: "):
        train_net_eval("MODEL.WEIGHTS", str(mismatched_checkpoint))

    trained, _ = _tiny_model()
    path = tmp_path / "model_final.pth"
    torch.save({"model": trained.state_dict()}, path)
    evaluated = train_net_eval("MODEL.WEIGHTS", str(path))
    for name, value in trained.state_dict().items():
        assert torch.equal(evaluated.state_dict()[name], value), name
    assert train_net_eval("--random-weights", "MODEL.WEIGHTS", "") is not None


def test_export_refuses_unfitting_weights(mismatched_checkpoint, tmp_path):
    export = load_script("tools/export_model.py").main
    args = onnx_export_args(tiny_config_file("semantic"), tmp_path / "m.onnx")
    with pytest.raises(UntrainedModelError, match="sem_seg_head: "):
        export(args + ["--weights", str(mismatched_checkpoint)])
    assert not (tmp_path / "m.onnx").exists()


# ---- 4. checkpoints: umask, temporary files, checksum, resume fallback ----


def _checkpointer(folder, model=None):
    model = model or nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return AtomicCheckpointer(model, str(folder), optimizer=optimizer)


def test_files_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        _checkpointer(tmp_path).save("model_0000009", iteration=9)
        os.umask(0o027)
        _checkpointer(tmp_path).save("model_0000019", iteration=19)
    finally:
        os.umask(previous)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert mode == {
        "model_0000009.pth": 0o644,
        "model_0000019.pth": 0o640,
        "last_checkpoint": 0o640,
    }


def test_stale_temporary_files_are_removed_at_start_and_save(tmp_path, caplog):
    left = [".model_0000009.pth.k2j_9xq0.tmp", ".last_checkpoint.0a1b2c3d.tmp"]
    kept = ["notes.tmp", ".model_0000009.pth.tmp", "model_0000004.pth", ".other.yaml.abcdefgh.tmp"]
    for name in left + kept:
        (tmp_path / name).write_bytes(b"x" * 100)
    with caplog.at_level(logging.INFO):
        checkpointer = _checkpointer(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
    assert "Removed 2 temporary file(s) of interrupted checkpoint saves" in caplog.text

    (tmp_path / left[0]).write_bytes(b"x")
    checkpointer.save("model_0000019")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["model_0000019.pth", "last_checkpoint"])


def _flip_bytes_inside(path: Path, tensor: torch.Tensor, count: int = 4096) -> None:
    """Flips ``count`` bytes of ``tensor``'s data where it is stored in ``path``."""
    data = bytearray(path.read_bytes())
    raw = bytes(tensor.detach().untyped_storage().tolist())  # as saved: in its memory layout
    start = data.find(raw)
    assert start >= 0 and len(raw) >= count
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_checkpoint_is_detected_with_the_file_name(tmp_path):
    model, _ = _tiny_model()
    _checkpointer(tmp_path, model).save("model_0000009", iteration=9)
    path = tmp_path / "model_0000009.pth"
    assert CHECKSUM_KEY in torch.load(path, weights_only=True)
    largest = max(model.state_dict().values(), key=lambda t: t.numel())
    _flip_bytes_inside(path, largest)

    fresh, _ = _tiny_model()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CorruptCheckpointError, match=rf"^{path}: the checkpoint is corrupt"):
        MaskFormerCheckpointer(fresh).load(str(path))
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(str(path))
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())  # untouched


def test_checkpoints_without_checksum_still_load(tmp_path):
    model, _ = _tiny_model()
    path = tmp_path / "older.pth"
    torch.save({"model": model.state_dict(), "iteration": 3}, path)
    fresh, _ = _tiny_model()
    extra = MaskFormerCheckpointer(fresh).load(str(path))
    assert extra["iteration"] == 3
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_written_checkpoint_loads_and_checksum_is_not_returned(tmp_path):
    model, _ = _tiny_model()
    _checkpointer(tmp_path, model).save("model_final", iteration=99)
    fresh, _ = _tiny_model()
    extra = _checkpointer(tmp_path, fresh).resume_or_load("", resume=True)
    assert extra == {"iteration": 99}
    extra = MaskFormerCheckpointer(fresh).load(str(tmp_path / "model_final.pth"))
    assert extra["iteration"] == 99 and CHECKSUM_KEY not in extra


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "deleted"])
def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path, caplog, damage):
    model = nn.Linear(3, 2)
    checkpointer = _checkpointer(tmp_path, model)
    saved = {}
    for iteration in (4, 9, 14):
        with torch.no_grad():
            model.weight.add_(1.0)
        checkpointer.save(f"model_{iteration:07d}", iteration=iteration)
        saved[iteration] = model.weight.detach().clone()
        os.utime(tmp_path / f"model_{iteration:07d}.pth", (iteration, iteration))  # distinct mtimes
    last = tmp_path / "model_0000014.pth"
    if damage == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "corrupt":
        _flip_bytes_inside(last, saved[14], count=8)
    else:
        last.unlink()

    fresh = nn.Linear(3, 2)
    with caplog.at_level(logging.WARNING):
        extra = _checkpointer(tmp_path, fresh).resume_or_load("", resume=True)
    assert extra["iteration"] == 9
    assert torch.equal(fresh.weight, saved[9])
    lines = [r.getMessage() for r in caplog.records if "resumed from" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith(f"--resume: {last}")
    assert f"resumed from {tmp_path / 'model_0000009.pth'} instead" in lines[0]


def test_resume_without_any_loadable_checkpoint_names_the_last(tmp_path):
    checkpointer = _checkpointer(tmp_path)
    checkpointer.save("model_0000004", iteration=4)
    (tmp_path / "model_0000004.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(
        CheckpointReadError,
        match=r"model_0000004.pth: cannot be read, the file is damaged.*no other",
    ):
        _checkpointer(tmp_path).resume_or_load("", resume=True)
