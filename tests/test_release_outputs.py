"""The published configs of both releases, shrunk to a tiny width, return what their release
returns: MaskFormer-release configs always the semantic result, plus the panoptic one in the
panoptic folders; Mask2Former configs the results their TEST.*_ON flags select."""

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model

from helpers.paths import CONFIGS
from mask2former import add_maskformer2_config

CASES = {
    "maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml": {"sem_seg"},
    "maskformer/ade20k-150-panoptic/maskformer_panoptic_R50_bs16_720k.yaml": {
        "sem_seg",
        "panoptic_seg",
    },
    "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml": {"sem_seg", "panoptic_seg"},
    "ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml": {"sem_seg"},
    "coco/instance-segmentation/maskformer2_R50_bs16_50ep.yaml": {"instances"},
    "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml": {
        "sem_seg",
        "panoptic_seg",
        "instances",
    },
}


def shrunk(path: str):
    """The config of ``path`` with a thin ResNet-18 and a 32-wide head; everything that
    selects the architecture, the losses and the outputs is left as published."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.merge_from_file(str(CONFIGS / path))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.NORM = "BN" if cfg.MODEL.RESNETS.NORM == "SyncBN" else cfg.MODEL.RESNETS.NORM
    head = cfg.MODEL.SEM_SEG_HEAD
    head.CONVS_DIM = head.MASK_DIM = 32
    head.NORM = "GN"
    head.TRANSFORMER_ENC_LAYERS = min(head.TRANSFORMER_ENC_LAYERS, 1)
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 4
    mf = cfg.MODEL.MASK_FORMER
    mf.HIDDEN_DIM, mf.NHEADS, mf.DIM_FEEDFORWARD = 32, 4, 64
    mf.NUM_OBJECT_QUERIES = 8
    mf.DEC_LAYERS = 4 if mf.TRANSFORMER_DECODER_NAME == "MultiScaleMaskedTransformerDecoder" else 2
    return cfg


@pytest.mark.parametrize("path", sorted(CASES), ids=sorted(CASES))
def test_published_config_returns_its_release_outputs(path):
    cfg = shrunk(path)
    model = build_model(cfg).eval()
    # 50x70: not a multiple of 32 (the MaskFormer COCO panoptic configs do not pad)
    inputs = [{"image": torch.randint(0, 256, (3, 50, 70)).float(), "height": 32, "width": 40}]
    with torch.no_grad():
        (result,) = model(inputs)
    assert set(result) == CASES[path]
    if "sem_seg" in result:
        assert result["sem_seg"].shape == (cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, 32, 40)
    if "panoptic_seg" in result:
        assert result["panoptic_seg"][0].shape == (32, 40)
    if "instances" in result:
        assert result["instances"].image_size == (32, 40)


PANOPTIC_CASES = sorted(path for path, outputs in CASES.items() if "panoptic_seg" in outputs)


@pytest.mark.parametrize("path", PANOPTIC_CASES, ids=PANOPTIC_CASES)
def test_published_panoptic_config_follows_its_release_rule(path):
    """Hand-built predictions of 2 queries on 4x4 pixels, the same in every row: a thing query
    wins columns 0-2 with mask probabilities .45, .45, .27 while its own mask (>= .5) is
    column 3, won by a stuff query. The MaskFormer release paints every pixel a query wins
    (thing, thing, thing, stuff); the Mask2Former release only won pixels inside the query's
    own mask, which leaves the thing query with nothing (void, void, void, stuff)."""
    model = build_model(shrunk(path)).eval()
    maskformer_release = path.startswith("maskformer/")
    assert model.panoptic_within_mask is not maskformer_release
    num_classes = model.sem_seg_head.num_classes
    thing = model.thing_ids[0]
    stuff = min(set(range(num_classes)) - set(model.thing_ids))
    mask_cls = torch.zeros(2, num_classes + 1)
    mask_cls[0, thing] = mask_cls[1, stuff] = 10.0
    mask_pred = torch.tensor([[-0.2, -0.2, -1.0, 0.5], [-10.0, -10.0, -10.0, 10.0]])
    mask_pred = mask_pred[:, None, :].expand(2, 4, 4)
    seg, info = model.inference_single(mask_cls, mask_pred, (4, 4), 4, 4)["panoptic_seg"]
    if maskformer_release:
        expected_row = [1, 1, 1, 2]
        expected_info = [
            {"id": 1, "isthing": True, "category_id": thing},
            {"id": 2, "isthing": False, "category_id": stuff},
        ]
    else:
        expected_row = [0, 0, 0, 1]
        expected_info = [{"id": 1, "isthing": False, "category_id": stuff}]
    assert torch.equal(seg, torch.tensor([expected_row] * 4, dtype=torch.int32))
    assert info == expected_info
