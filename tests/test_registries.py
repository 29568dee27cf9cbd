"""One registration mechanism: every pluggable kind (dataset mappers, evaluators, optimizers,
heads, pixel decoders, transformer decoders) is a Detectron2 ``Registry`` filled through its
public API. The registered names are the ones users' configs name, and users' own components,
registered as the published code registers its own, are built from their configs."""

import re
from pathlib import Path

import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator, DatasetEvaluators
from detectron2.layers import Conv2d
from detectron2.modeling import (
    BACKBONE_REGISTRY,
    META_ARCH_REGISTRY,
    SEM_SEG_HEADS_REGISTRY,
    build_model,
)
from detectron2.structures import Instances
from torch import nn

from helpers.configs import make_tiny_cfg
from mask2former.data import DATASET_MAPPER_REGISTRY, build_dataset_mapper
from mask2former.evaluation import (
    EVALUATOR_REGISTRY,
    build_evaluator,
    register_evaluator_type,
)
from mask2former.modeling.transformer_decoder import TRANSFORMER_DECODER_REGISTRY
from mask2former.solver import OPTIMIZER_REGISTRY, build_optimizer

PACKAGE = Path(__file__).resolve().parents[1] / "mask2former"

# The registries this package fills: exactly these names (components that the tests below
# register are named "user_..." / "User...").
OWN_REGISTRIES = {
    "DATASET_MAPPER": (
        DATASET_MAPPER_REGISTRY,
        {
            "mask_former_semantic",
            "mask_former_panoptic",
            "mask_former_instance",
            "detr_panoptic",
            "coco_instance_lsj",
            "coco_panoptic_lsj",
        },
    ),
    "EVALUATOR": (
        EVALUATOR_REGISTRY,
        {
            "sem_seg",
            "coco",
            "lvis",
            "cityscapes_sem_seg",
            "cityscapes_instance",
            "coco_panoptic_seg",
            "ade20k_panoptic_seg",
            "mapillary_vistas_panoptic_seg",
            "cityscapes_panoptic_seg",
            "ytvis",
        },
    ),
    "OPTIMIZER": (OPTIMIZER_REGISTRY, {"adamw", "sgd"}),
    "TRANSFORMER_DECODER": (
        TRANSFORMER_DECODER_REGISTRY,
        {
            "StandardTransformerDecoder",
            "MultiScaleMaskedTransformerDecoder",
            "VideoMultiScaleMaskedTransformerDecoder",
        },
    ),
}
# Detectron2's registries, which this package adds to
DETECTRON2_REGISTRIES = {
    "SEM_SEG_HEADS": (
        SEM_SEG_HEADS_REGISTRY,
        {
            "MaskFormerHead",
            "PerPixelBaselineHead",
            "PerPixelBaselinePlusHead",
            "BasePixelDecoder",
            "TransformerEncoderPixelDecoder",
            "MSDeformAttnPixelDecoder",
        },
    ),
    "META_ARCH": (META_ARCH_REGISTRY, {"MaskFormer", "VideoMaskFormer"}),
    "BACKBONE": (BACKBONE_REGISTRY, {"D2SwinTransformer"}),
}


def _names(registry):
    return {name for name, _ in registry if not name.lower().startswith("user")}


@pytest.mark.parametrize("kind", list(OWN_REGISTRIES))
def test_own_registries_hold_exactly_the_published_names(kind):
    registry, expected = OWN_REGISTRIES[kind]
    assert _names(registry) == expected


@pytest.mark.parametrize("kind", list(DETECTRON2_REGISTRIES))
def test_detectron2_registries_hold_the_published_names(kind):
    registry, expected = DETECTRON2_REGISTRIES[kind]
    assert expected <= _names(registry)


def test_the_package_uses_no_private_registry_api():
    private = re.compile(r"\._do_register\b|\._obj_map\b")
    uses = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if private.search(line)
    ]
    assert not uses, uses


# ---- users' own components ----


@SEM_SEG_HEADS_REGISTRY.register()
class UserPixelDecoder(nn.Module):
    """A pixel decoder written as the published ones are: registered in SEM_SEG_HEADS_REGISTRY,
    built as ``cls(cfg, input_shape)``, with ``forward_features``. Projects res2 to the mask
    features and res5, res4, res3 to the multi-scale maps, with 1x1 convolutions."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        conv_dim, mask_dim = cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM, cfg.MODEL.SEM_SEG_HEAD.MASK_DIM
        self.mask_features = Conv2d(input_shape["res2"].channels, mask_dim, 1)
        self.levels = nn.ModuleDict(
            {
                name: Conv2d(input_shape[name].channels, conv_dim, 1)
                for name in ("res5", "res4", "res3")
            }
        )

    def forward_features(self, features):
        multi_scale = [conv(features[name]) for name, conv in self.levels.items()]
        return self.mask_features(features["res2"]), None, multi_scale


def _batch():
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[8:40, 16:48] = True
    instances = Instances((64, 64))
    instances.gt_classes = torch.tensor([2])
    instances.gt_masks = mask[None]
    return [
        {"image": torch.rand(3, 64, 64) * 255, "instances": instances, "height": 64, "width": 64}
    ]


def test_users_pixel_decoder_registered_the_published_way_trains_and_predicts():
    model = build_model(make_tiny_cfg(pixel_decoder="UserPixelDecoder"))
    assert isinstance(model.sem_seg_head.pixel_decoder, UserPixelDecoder)
    model.train()
    losses = model(_batch())
    sum(losses.values()).backward()
    assert model.sem_seg_head.pixel_decoder.mask_features.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        (output,) = model(_batch())
    assert output["sem_seg"].shape == (5, 64, 64)


class UserMapper:
    def __init__(self, cfg, is_train):
        self.is_train = is_train

    def __call__(self, record):
        return record


@DATASET_MAPPER_REGISTRY.register()
def user_identity_mapper(cfg, is_train):
    return UserMapper(cfg, is_train)


def test_users_mapper_is_built_from_the_config():
    cfg = make_tiny_cfg()
    cfg.INPUT.DATASET_MAPPER_NAME = "user_identity_mapper"
    mapper = build_dataset_mapper(cfg, is_train=False)
    assert isinstance(mapper, UserMapper) and not mapper.is_train


@OPTIMIZER_REGISTRY.register()
def user_rmsprop(cfg, param_groups):
    return torch.optim.RMSprop, {"alpha": 0.9}


@pytest.mark.parametrize("value", ["user_rmsprop", "USER_RMSPROP"])
def test_users_optimizer_is_selected_by_solver_optimizer(value):
    cfg = make_tiny_cfg()
    cfg.SOLVER.OPTIMIZER = value
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.01
    optimizer = build_optimizer(cfg, nn.Linear(2, 2))
    assert isinstance(optimizer, torch.optim.RMSprop)  # with the full-model clipping subclass
    assert all(group["alpha"] == 0.9 for group in optimizer.param_groups)


class UserEvaluator(DatasetEvaluator):
    built = []

    def __init__(self, dataset_name, output_dir):
        self.dataset_name, self.output_dir = dataset_name, output_dir
        UserEvaluator.built.append(self)


register_evaluator_type(
    "user_panoptic",
    {"panoptic": UserEvaluator, "semantic": lambda name, output_dir: None, "always": UserEvaluator},
)


def test_users_evaluator_type_is_chosen_by_the_datasets_metadata(tmp_path):
    MetadataCatalog.get("user_registries_dataset").set(evaluator_type="user_panoptic")
    cfg = make_tiny_cfg()
    cfg.MODEL.MASK_FORMER.TEST.SEMANTIC_ON = True  # its factory finds no ground truth
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = False
    only_always = build_evaluator(cfg, "user_registries_dataset", str(tmp_path))
    assert isinstance(only_always, UserEvaluator) and only_always.output_dir == str(tmp_path)
    cfg.MODEL.MASK_FORMER.TEST.PANOPTIC_ON = True
    UserEvaluator.built.clear()
    both = build_evaluator(cfg, "user_registries_dataset", str(tmp_path))
    assert isinstance(both, DatasetEvaluators) and len(UserEvaluator.built) == 2


def test_register_evaluator_type_refuses_unknown_tasks_and_second_registrations():
    with pytest.raises(ValueError, match="unknown tasks"):
        register_evaluator_type("user_bad_tasks", {"depth": UserEvaluator})
    with pytest.raises(ValueError, match="'coco' is already registered"):
        register_evaluator_type("coco", {"always": UserEvaluator})
