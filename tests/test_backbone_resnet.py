"""The ResNet variants of the published configs build Detectron2 backbones whose state_dict
names and shapes equal the published checkpoints' ``backbone.*`` entries."""

import pytest
import torch
from detectron2.modeling import build_backbone

from helpers.backbones import resnet_cfg
from helpers.checkpoints import compare_state_dict, load_reference, reference_files


def backbone_keys(cfg):
    with torch.device("meta"):
        backbone = build_backbone(cfg)
    return {f"backbone.{k}": v for k, v in backbone.state_dict().items()}


def reference_backbone(path):
    _, _, shapes = load_reference(path)
    return {k: v for k, v in shapes.items() if k.startswith("backbone.")}


@pytest.mark.parametrize(
    "reference,depth,norm,deeplab",
    [
        ("maskformer/ade20k-150__maskformer_R50_bs16_160k.txt.gz", 50, "FrozenBN", False),
        (
            "mask2former/coco__panoptic-segmentation__maskformer2_R101_bs16_50ep.txt.gz",
            101,
            "FrozenBN",
            False,
        ),
        # SyncBN (like BN) stores num_batches_tracked; FrozenBN does not
        (
            "mask2former/ade20k__semantic-segmentation__maskformer2_R101_bs16_90k.txt.gz",
            101,
            "SyncBN",
            False,
        ),
        (
            "mask2former/cityscapes__semantic-segmentation__maskformer2_R50_bs16_90k.txt.gz",
            50,
            "SyncBN",
            False,
        ),
        ("maskformer/ade20k-150__maskformer_R101c_bs16_160k.txt.gz", 101, "FrozenBN", True),
    ],
)
def test_resnet_matches_reference(reference, depth, norm, deeplab):
    ours = backbone_keys(resnet_cfg(depth, norm, deeplab))
    assert compare_state_dict(ours, reference_backbone(reference)) == []


def test_every_resnet_reference_is_one_of_the_variants():
    variants = {
        (depth, norm, deeplab): backbone_keys(resnet_cfg(depth, norm, deeplab))
        for depth in (50, 101)
        for norm in ("FrozenBN", "SyncBN")
        for deeplab in ((False, True) if depth == 101 else (False,))
    }
    refs = [
        f
        for f in reference_files("mask2former") + reference_files("maskformer")
        if "swin" not in f.name
    ]
    assert len(refs) >= 30
    for f in refs:
        reference = reference_backbone(f)
        matching = [v for v, keys in variants.items() if compare_state_dict(keys, reference) == []]
        assert len(matching) == 1, f"{f.name}: {matching}"
        depth, norm, deeplab = matching[0]
        assert depth == (50 if "R50" in f.name else 101), f.name
        assert deeplab == ("R101c" in f.name), f.name


def test_deeplab_resnet_forward_strides_and_multigrid():
    with torch.device("meta"):
        r101c = build_backbone(resnet_cfg(101, deeplab=True))
    assert [block.conv2.dilation for block in r101c.res5] == [(1, 1), (2, 2), (4, 4)]
    assert [r101c.stem.conv1.weight.shape[-1], r101c.stem.conv3.weight.shape[0]] == [3, 128]
    # the same construction at depth 50 (cheaper to initialize) on a real input
    backbone = build_backbone(resnet_cfg(50, deeplab=True)).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 64, 96))
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
        "res2": (256, 16, 24),
        "res3": (512, 8, 12),
        "res4": (1024, 4, 6),
        "res5": (2048, 2, 3),
    }
