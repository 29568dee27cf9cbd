"""The fast CPU path without opting in: a model built with Detectron2's plain ``build_model`` for
the CPU runs its convolutions in channels-last layout, with the outputs of the contiguous
layout; importing the package keeps freed heap memory for the next pass."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import make_tiny_cfg
from detectron2.modeling import build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = dict(rtol=1e-5, atol=1e-5)  # tests/test_perf_equivalence.py's


def _backbone_features(model, inputs):
    """The model's inference results and its backbone's output features on ``inputs``."""
    features = {}
    handle = model.backbone.register_forward_hook(lambda m, i, out: features.update(out))
    try:
        with torch.no_grad():
            results = model(inputs)
    finally:
        handle.remove()
    return results, features


@pytest.mark.parametrize("architecture", ["mask2former", "maskformer"])
def test_plain_build_model_runs_channels_last_on_cpu(architecture):
    cfg = (
        make_tiny_cfg()
        if architecture == "mask2former"
        else make_tiny_cfg("StandardTransformerDecoder", "BasePixelDecoder")
    )
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    cfg.MODEL.MASK_FORMER.TEST.INSTANCE_ON = True
    cfg.MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD = 0.0  # non-empty panoptic results
    model = build_model(cfg).eval()
    model.thing_ids = (0, 1, 2)  # classes 3, 4 are stuff
    g = torch.Generator().manual_seed(0)
    # a padded batch (50 -> 64) with a resized output, as the evaluation loop gives it
    inputs = [
        {"image": torch.randint(0, 256, (3, 64, 64), generator=g).float()},
        {
            "image": torch.randint(0, 256, (3, 50, 60), generator=g).float(),
            "height": 80,
            "width": 96,
        },
    ]
    results, features = _backbone_features(model, inputs)
    for name, feature in features.items():
        assert feature.is_contiguous(memory_format=torch.channels_last), name
        assert not feature.is_contiguous(), name

    # the same weights in the contiguous layout give the same outputs up to float rounding
    model.to(memory_format=torch.contiguous_format)
    expected, features = _backbone_features(model, inputs)
    assert all(feature.is_contiguous() for feature in features.values())
    for got, want in zip(results, expected):
        torch.testing.assert_close(got["sem_seg"], want["sem_seg"], **TOL)
        torch.testing.assert_close(got["instances"].scores, want["instances"].scores, **TOL)
        assert torch.equal(got["instances"].pred_masks, want["instances"].pred_masks)
        assert got["panoptic_seg"][1] == want["panoptic_seg"][1]
        # an untrained model's masks tie at some pixels, where rounding picks the segment
        same = (got["panoptic_seg"][0] == want["panoptic_seg"][0]).float().mean()
        assert same > 0.999


def test_other_devices_keep_the_contiguous_layout():
    """The layout follows MODEL.DEVICE: a model built for CUDA keeps Detectron2's layout
    (built on the CPU here, without moving it, as build_model does before ``.to(device)``)."""
    from detectron2.modeling import META_ARCH_REGISTRY

    cfg = make_tiny_cfg()
    cfg.MODEL.DEVICE = "cuda"
    model = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg)
    assert model.backbone.stem.conv1.weight.is_contiguous()
    cfg.MODEL.DEVICE = "cpu"
    model = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg)
    weight = model.backbone.stem.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_loading_weights_keeps_the_layout():
    cfg = make_tiny_cfg()
    model = build_model(cfg)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert not model.backbone.stem.conv1.weight.is_contiguous()


# In a child process: ctypes' C library is replaced by one that records mallopt calls, then the
# package is imported.
_RECORD_MALLOPT = """
import ctypes, ctypes.util
calls, libc_name, real_cdll = [], ctypes.util.find_library("c"), ctypes.CDLL

def mallopt(param, value):
    calls.append((param, value))
    return 1

class FakeLibc:
    gnu_get_libc_version = b"2.99"
    mallopt = staticmethod(mallopt)  # a function: the caller sets its argtypes

def cdll(name, *args, **kwargs):
    return FakeLibc() if name == libc_name else real_cdll(name, *args, **kwargs)

ctypes.CDLL = cdll
import mask2former
print(calls)
"""


def test_importing_the_package_keeps_freed_heap_memory():
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", _RECORD_MALLOPT], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == str([(-2, 1 << 30)])  # M_TOP_PAD, 1 GiB
