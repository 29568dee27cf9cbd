"""tools/convert-torchvision-to-d2.py and tools/convert-pretrained-swin-model-to-d2.py on
checkpoints written here with the real key layouts and random values."""

import pickle

import pytest
import torch
import torchvision
from detectron2.modeling import build_backbone
from torch import nn

from helpers.backbones import resnet_cfg, tiny_swin
from helpers.scripts import load_script
from mask2former.checkpoint import (
    MaskFormerCheckpointer,
    read_checkpoint,
    write_safetensors,
)


class WithBackbone(nn.Module):
    """Puts a backbone under ``backbone.``, as in the meta-architecture."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


def load_through_checkpointer(model, path):
    checkpointer = MaskFormerCheckpointer(model)
    checkpointer.load(str(path))
    return checkpointer.last_report


def randomized(module: nn.Module) -> nn.Module:
    """Random values in every float tensor, incl. BatchNorm statistics (variances positive)."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand_like(t) + 0.5
                    if name.endswith("running_var")
                    else torch.randn_like(t) * 0.1
                )
    return module


def converted_pkl(tmp_path, tool, state_dict, name, *extra):
    src, out = tmp_path / name, tmp_path / "converted.pkl"
    if name.endswith(".safetensors"):
        write_safetensors({"model": state_dict}, str(src))
    else:
        torch.save(state_dict, src)
    load_script(f"tools/{tool}").main([str(src), str(out), *extra])
    return out


def resnet_d2_cfg(depth):
    cfg = resnet_cfg(depth)
    if depth == 18:
        cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    return cfg


def test_torchvision_resnet18_converts_to_the_same_function(tmp_path):
    tv = randomized(torchvision.models.resnet18(weights=None)).eval()
    pkl = converted_pkl(tmp_path, "convert-torchvision-to-d2.py", tv.state_dict(), "r18.pth")
    model = WithBackbone(build_backbone(resnet_d2_cfg(18))).eval()
    report = load_through_checkpointer(model, pkl)
    assert report.complete, report.summary()

    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        x = tv.maxpool(tv.relu(tv.bn1(tv.conv1(images))))
        expected = {}
        for i, layer in enumerate([tv.layer1, tv.layer2, tv.layer3, tv.layer4]):
            x = layer(x)
            expected[f"res{i + 2}"] = x
        ours = model.backbone(images)
    for k in expected:
        torch.testing.assert_close(ours[k], expected[k], rtol=1e-4, atol=1e-5, msg=k)


def test_torchvision_resnet50_loads_with_no_missing_keys(tmp_path):
    tv_state = randomized(torchvision.models.resnet50(weights=None)).state_dict()
    pkl = converted_pkl(tmp_path, "convert-torchvision-to-d2.py", tv_state, "r50.pth")
    model = WithBackbone(build_backbone(resnet_d2_cfg(50)))
    report = load_through_checkpointer(model, pkl)
    assert report.complete, report.summary()
    torch.testing.assert_close(
        model.backbone.res5[2].conv3.norm.running_var, tv_state["layer4.2.bn3.running_var"]
    )
    torch.testing.assert_close(
        model.backbone.res3[0].shortcut.weight, tv_state["layer2.0.downsample.0.weight"]
    )
    with open(pkl, "rb") as f:
        data = pickle.load(f)
    assert data["__author__"] == "torchvision" and data["matching_heuristics"] is True


def test_torchvision_converter_rejects_unknown_names():
    tool = load_script("tools/convert-torchvision-to-d2.py")
    with pytest.raises(ValueError, match="'features.0.weight' is not a torchvision ResNet"):
        tool.convert({"features.0.weight": torch.zeros(1)})


def official_swin_state(backbone) -> dict:
    """The layout of the Swin release's ImageNet checkpoints, built from a D2SwinTransformer:
    no per-stage norms, a final norm and classifier, attention-mask buffers in shifted blocks."""
    state = {k: v.clone() for k, v in backbone.state_dict().items() if not k.startswith("norm")}
    width = backbone.num_features[-1]
    state.update({"norm.weight": torch.randn(width), "norm.bias": torch.randn(width)})
    state.update({"head.weight": torch.randn(10, width), "head.bias": torch.randn(10)})
    for i, stage in enumerate(backbone.layers):
        for j, block in enumerate(stage.blocks):
            if block.shift_size:
                state[f"layers.{i}.blocks.{j}.attn_mask"] = torch.zeros(4, 9, 9)
    return state


def timm_swin_state(official: dict) -> dict:
    """pytorch-image-models' layout of the same weights."""
    state = {}
    for k, v in official.items():
        if k.endswith("relative_position_index") or k.endswith("attn_mask"):
            continue
        if ".downsample." in k:
            stage = int(k.split(".")[1])
            k = k.replace(f"layers.{stage}.", f"layers.{stage + 1}.", 1)
        state[k.replace("head.", "head.fc.")] = v
    return state


@pytest.fixture
def swin_source():
    source = randomized(tiny_swin())
    for i in range(4):  # classification weights have no output norms: identity after conversion
        getattr(source, f"norm{i}").reset_parameters()
    return source


def test_official_swin_converts_with_no_missing_keys(tmp_path, swin_source):
    official = official_swin_state(swin_source)
    pkl = converted_pkl(
        tmp_path, "convert-pretrained-swin-model-to-d2.py", {"model": official}, "swin.pth"
    )
    model = WithBackbone(tiny_swin())
    report = load_through_checkpointer(model, pkl)
    assert report.complete, report.summary()
    for k, v in swin_source.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v, rtol=0, atol=0, msg=k)
    images = torch.randn(1, 3, 40, 52)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(images), swin_source(images))


def test_timm_swin_converts_to_the_same_file(tmp_path, swin_source):
    official = official_swin_state(swin_source)
    tool = "convert-pretrained-swin-model-to-d2.py"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from_official = converted_pkl(tmp_path / "a", tool, {"model": official}, "swin.pth")
    timm = timm_swin_state(official)
    assert (
        "layers.3.downsample.reduction.weight" in timm
        and "layers.0.downsample.norm.weight" not in timm
    )
    from_timm = converted_pkl(tmp_path / "b", tool, timm, "model.safetensors")
    a, b = (read_checkpoint(str(p))["model"] for p in (from_official, from_timm))
    assert sorted(a) == sorted(b)
    for k in a:
        assert (a[k] == b[k]).all(), k


def test_swin_layout_detection():
    tool = load_script("tools/convert-pretrained-swin-model-to-d2.py")
    assert tool.detect_layout({"layers.0.downsample.norm.weight": 0}) == "official"
    assert tool.detect_layout({"layers.1.downsample.norm.weight": 0}) == "timm"
    with pytest.raises(ValueError, match="not a Swin Transformer checkpoint"):
        tool.detect_layout({"conv1.weight": 0})


def test_swin_absolute_position_embedding_becomes_a_channels_first_grid(tmp_path):
    """Classification Swin stores the APE as (1, L, C) over row-major patches; the backbone
    keeps it as (1, C, h, w): entry [0, c, i, j] is token i * w + j's channel c, and the
    converted file loads into a backbone built with APE and that pretraining size."""
    source = randomized(tiny_swin(APE=True, PRETRAIN_IMG_SIZE=16))  # 4 x 4 patches, 8 channels
    grid = source.absolute_pos_embed.detach().clone()  # (1, 8, 4, 4)
    official = official_swin_state(source)
    official["absolute_pos_embed"] = grid.flatten(2).transpose(1, 2).contiguous()  # (1, 16, 8)
    tool = load_script("tools/convert-pretrained-swin-model-to-d2.py")
    converted = tool.convert(official)
    assert tuple(converted["absolute_pos_embed"].shape) == (1, 8, 4, 4)
    tokens = official["absolute_pos_embed"]
    assert converted["absolute_pos_embed"][0, 3, 2, 1] == tokens[0, 2 * 4 + 1, 3]
    pkl = converted_pkl(
        tmp_path, "convert-pretrained-swin-model-to-d2.py", {"model": official}, "ape.pth"
    )
    model = WithBackbone(tiny_swin(APE=True, PRETRAIN_IMG_SIZE=16))
    report = load_through_checkpointer(model, pkl)
    assert report.complete, report.summary()
    torch.testing.assert_close(model.backbone.absolute_pos_embed, grid, rtol=0, atol=0)
