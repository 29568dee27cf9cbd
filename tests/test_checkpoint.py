"""MaskFormerCheckpointer: .safetensors loads exactly like the .pkl it came from, without pickle;
the load report names what did not match; tools/convert_checkpoint.py."""

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from helpers.backbones import tiny_swin
from helpers.configs import tiny_semantic_cfg
from helpers.scripts import load_script
from mask2former.checkpoint import (
    MaskFormerCheckpointer,
    read_checkpoint,
    read_safetensors,
    write_safetensors,
)


class TinyModel(nn.Module):
    """A backbone under ``backbone.`` plus a head, like the meta-architecture."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = tiny_swin()
        self.head = nn.Linear(8, 3)


def write_pkl(path, state_dict, heuristics: bool):
    data = {
        "model": {k: v.numpy().copy() for k, v in state_dict.items()},
        "__author__": "test",
        "matching_heuristics": heuristics,
    }
    with open(path, "wb") as f:
        pickle.dump(data, f)


def assert_same_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("heuristics", [False, True])
def test_safetensors_loading_equals_pickle_loading(tmp_path, heuristics):
    source = TinyModel(seed=1)
    state = source.state_dict()
    if heuristics:  # ImageNet-style file: backbone names without the "backbone." prefix
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    pkl, st = tmp_path / "w.pkl", tmp_path / "w.safetensors"
    write_pkl(pkl, state, heuristics)
    load_script("tools/convert_checkpoint.py").main([str(pkl), str(st)])

    from_pkl, from_st = TinyModel(seed=2), TinyModel(seed=3)
    ckpt_pkl, ckpt_st = MaskFormerCheckpointer(from_pkl), MaskFormerCheckpointer(from_st)
    ckpt_pkl.load(str(pkl))
    ckpt_st.load(str(st))
    if heuristics:  # the head is not in the file: compare it separately
        from_st.head.load_state_dict(from_pkl.head.state_dict())
        assert ckpt_st.last_report.missing == ["head.weight", "head.bias"]
        assert_same_state(from_pkl.backbone, source.backbone)
    else:
        assert ckpt_st.last_report.complete
        assert_same_state(from_pkl, source)
    assert_same_state(from_st, from_pkl)
    assert ckpt_st.last_report.loaded == ckpt_pkl.last_report.loaded
    assert read_safetensors(str(st))["matching_heuristics"] is heuristics


def test_safetensors_loading_never_unpickles(tmp_path, monkeypatch):
    source = TinyModel(seed=1)
    path = tmp_path / "w.safetensors"
    write_safetensors({"model": source.state_dict(), "__author__": "test"}, str(path))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    target = TinyModel(seed=2)
    MaskFormerCheckpointer(target).load(str(path))
    assert_same_state(target, source)


def test_safetensors_heuristics_from_query(tmp_path):
    source = TinyModel(seed=1)
    backbone_only = {k: v for k, v in source.backbone.state_dict().items()}
    path = tmp_path / "w.safetensors"
    write_safetensors({"model": backbone_only}, str(path))  # no metadata at all
    target = TinyModel(seed=2)
    checkpointer = MaskFormerCheckpointer(target)
    checkpointer.load(str(path))  # names lack "backbone.": nothing matches
    assert len(checkpointer.last_report.unexpected) == len(backbone_only)
    checkpointer.load(f"{path}?matching_heuristics=True")
    assert_same_state(target.backbone, source.backbone)
    with pytest.raises(ValueError, match="unsupported query"):
        checkpointer.load(f"{path}?color=blue")


def test_report_names_missing_unexpected_and_mismatched(tmp_path, caplog):
    state = {k: v.clone() for k, v in TinyModel(seed=1).state_dict().items()}
    del state["head.weight"]
    state["head.bias"] = torch.zeros(5)
    state["extra.scale"] = torch.ones(2)
    path = tmp_path / "w.safetensors"
    write_safetensors({"model": state}, str(path))
    model = TinyModel(seed=2)
    checkpointer = MaskFormerCheckpointer(model)
    with caplog.at_level(logging.INFO):
        checkpointer.load(str(path))
    report = checkpointer.last_report
    assert report.missing == ["head.weight"]
    assert report.unexpected == ["extra.scale"]
    assert report.incorrect_shapes == [("head.bias", (5,), (3,))]
    assert not report.complete
    n = len(model.state_dict())
    assert len(report.loaded) == n - 2
    text = caplog.text
    assert f"Loaded {n - 2} of {n} model tensors from {path}" in text
    assert (
        "1 model tensors are not in the checkpoint and keep their initialization: head.weight (1)"
        in text
    )
    assert "1 checkpoint tensors are not used by the model: extra.scale (1)" in text
    assert "Skipped head.bias: shape (5,) in the checkpoint, (3,) in the model." in text


def test_convert_pth_keeps_weights_and_scalar_metadata(tmp_path, capsys):
    model = TinyModel(seed=1)
    pth, st = tmp_path / "model_final.pth", tmp_path / "model_final.safetensors"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": 7}, pth
    )
    load_script("tools/convert_checkpoint.py").main([str(pth), str(st)])
    assert "Left out (not weights): optimizer" in capsys.readouterr().out
    loaded = read_safetensors(str(st))
    assert loaded["iteration"] == 7 and "optimizer" not in loaded
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded["model"][k], v, rtol=0, atol=0)


def test_write_safetensors_handles_shared_and_rejects_non_arrays(tmp_path):
    weight = torch.randn(3, 3)
    path = tmp_path / "tied.safetensors"
    scalar = np.array(5, dtype=np.int64)  # e.g. num_batches_tracked
    write_safetensors(
        {"model": {"a": weight, "b": weight, "c": np.arange(4.0), "n": scalar}}, str(path)
    )
    loaded = read_safetensors(str(path))["model"]
    torch.testing.assert_close(loaded["a"], loaded["b"])
    assert loaded["c"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert loaded["n"].shape == () and loaded["n"].item() == 5
    with pytest.raises(ValueError, match="'model/name' is a str"):
        write_safetensors({"model": {"name": "oops"}}, str(tmp_path / "bad.safetensors"))


def test_convert_checkpoint_argument_errors(tmp_path):
    tool = load_script("tools/convert_checkpoint.py")
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / "missing.pkl"), str(tmp_path / "out.safetensors")])
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / "in.pkl"), str(tmp_path / "out.pth")])
    bad = tmp_path / "list.pth"
    torch.save([1, 2], bad)
    with pytest.raises(ValueError, match="expected a dict of weights"):
        read_checkpoint(str(bad))
    with_object = tmp_path / "object.pth"
    torch.save({"model": {"w": torch.ones(1)}, "extra": Path("x")}, with_object)
    with pytest.raises(ValueError, match="other than tensors.*--trust-pickle"):
        read_checkpoint(str(with_object))
    assert "extra" in read_checkpoint(str(with_object), trust_pickle=True)


def test_model_zoo_pickle_and_its_safetensors_give_the_same_predictions(tmp_path, tiny_cfg):
    """A whole MaskFormer model saved the way the published model zoos are (a .pkl of numpy
    arrays with full names), converted, and loaded into fresh models through MODEL.WEIGHTS' path."""
    from detectron2.modeling import build_model

    trained = build_model(tiny_cfg).eval()
    pkl, st = tmp_path / "model_final.pkl", tmp_path / "model_final.safetensors"
    with open(pkl, "wb") as f:
        state = {k: v.numpy().copy() for k, v in trained.state_dict().items()}
        pickle.dump({"model": state, "__author__": "Mask2Former"}, f)
    load_script("tools/convert_checkpoint.py").main([str(pkl), str(st)])

    image = {
        "image": torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8),
        "height": 50,
        "width": 70,
    }
    outputs = []
    for path in (pkl, st):
        torch.manual_seed(len(outputs) + 5)  # different initializations
        model = build_model(tiny_cfg).eval()
        checkpointer = MaskFormerCheckpointer(model)
        checkpointer.load(str(path))
        assert checkpointer.last_report.complete, checkpointer.last_report.summary()
        assert_same_state(model, trained)
        with torch.no_grad():
            outputs.append(model([image])[0]["sem_seg"])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


class _RunsCode:
    """An object whose unpickling calls a function: what a malicious .pkl does."""

    def __reduce__(self):
        return (print, ("this ran while unpickling",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pkl_reading_allows_weights_and_refuses_code(tmp_path, protocol, capsys):
    weights = {
        "a": np.random.rand(2, 3).astype(np.float32),
        "count": np.array(3),
        "t": torch.arange(5.0)[1:4],  # the published Swin converter pickles torch tensors
        "h": torch.ones(2, dtype=torch.float16),
    }
    good = tmp_path / "good.pkl"
    with open(good, "wb") as f:
        pickle.dump({"model": weights, "__author__": "test"}, f, protocol=protocol)
    loaded = read_checkpoint(str(good))["model"]
    assert (loaded["a"] == weights["a"]).all() and loaded["count"].shape == ()
    assert torch.equal(loaded["t"], weights["t"]) and loaded["h"].dtype == torch.float16

    bad = tmp_path / "bad.pkl"
    with open(bad, "wb") as f:
        pickle.dump({"model": {"w": np.zeros(2)}, "__author__": _RunsCode()}, f, protocol=protocol)
    with pytest.raises(
        ValueError, match="refers to '(__builtin__|builtins).print'.*--trust-pickle"
    ):
        read_checkpoint(str(bad))
    with pytest.raises(ValueError, match="refused to unpickle"):
        MaskFormerCheckpointer(TinyModel(seed=1)).load(str(bad))
    assert "this ran" not in capsys.readouterr().out
    read_checkpoint(str(bad), trust_pickle=True)  # the user's explicit choice
    assert "this ran while unpickling" in capsys.readouterr().out


def test_caffe2_style_pkl_is_read_like_detectron2(tmp_path):
    path = tmp_path / "R-50.pkl"
    with open(path, "wb") as f:
        blobs = {"conv1_w": np.zeros((2, 3)), "conv1_w_momentum": np.zeros((2, 3))}
        pickle.dump({"blobs": blobs}, f)
    data = read_checkpoint(str(path))
    assert sorted(data["model"]) == ["conv1_w"]
    assert data["__author__"] == "Caffe2" and data["matching_heuristics"] is True


def test_model_weights_accepts_safetensors_in_predictor_and_training_checkpointer(tmp_path):
    """cfg.MODEL.WEIGHTS naming a .safetensors file: the predictor and the checkpointer that
    train_net / the trainer use (resume_or_load without a last_checkpoint) load it fully,
    without unpickling anything."""
    from mask2former.engine import AtomicCheckpointer
    from mask2former.engine.predictor import MaskFormerPredictor

    trained = MaskFormerPredictor(tiny_semantic_cfg(), random_weights=True).model
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "model_final.safetensors"
    write_safetensors({"model": trained.state_dict(), "__author__": "test"}, str(path))

    cfg = tiny_semantic_cfg(str(path))
    predictor = MaskFormerPredictor(cfg)
    assert_same_state(predictor.model, trained)

    from detectron2.modeling import build_model

    model = build_model(cfg)
    checkpointer = AtomicCheckpointer(model, save_dir=str(tmp_path / "output"))
    checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=True)  # nothing to resume: loads it
    assert checkpointer.last_report.complete, checkpointer.last_report.summary()
    assert_same_state(model, trained)
