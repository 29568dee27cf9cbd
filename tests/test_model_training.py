"""Training behaviour of the tiny MaskFormer / Mask2Former models: every trainable parameter
gets a gradient, and a few steps on a fixed batch lower the loss."""

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Instances

from helpers.configs import make_tiny_cfg
from helpers.training import synthetic_batch

ARCHITECTURES = {
    "mask2former": ("MultiScaleMaskedTransformerDecoder", "MSDeformAttnPixelDecoder"),
    "maskformer": ("StandardTransformerDecoder", "BasePixelDecoder"),
}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def training_run(request):
    """12 AdamW steps of a tiny model on the fixed batch: the loss keys, the parameters that
    got no gradient on the second step, and the loss history."""
    torch.manual_seed(0)
    cfg = make_tiny_cfg(*ARCHITECTURES[request.param])
    model = build_model(cfg)
    model.train()
    batch = synthetic_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history, no_grad, loss_keys = [], None, None
    for step in range(12):
        losses = model(batch)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        # The published zero inits (deformable sampling offsets and attention weights, attention
        # value biases feeding DETR's all-zero first queries) block some gradients on the very
        # first step only, so check the second.
        if step == 1:
            loss_keys = set(losses)
            no_grad = {
                name
                for name, p in model.named_parameters()
                if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))
            }
        optimizer.step()
        history.append(loss.item())
    return {
        "weight_dict": model.criterion.weight_dict,
        "dec_layers": cfg.MODEL.MASK_FORMER.DEC_LAYERS,
        "loss_keys": loss_keys,
        "no_grad": no_grad,
        "history": history,
    }


def test_gradients_reach_every_parameter(training_run):
    assert not training_run["no_grad"], f"no gradient: {sorted(training_run['no_grad'])}"


def test_all_weighted_losses_are_returned(training_run):
    # the final output and DEC_LAYERS - 1 auxiliary ones, each with loss_ce, loss_mask, loss_dice
    expected = {"loss_ce", "loss_mask", "loss_dice"}
    expected |= {f"{k}_{i}" for k in expected for i in range(training_run["dec_layers"] - 1)}
    assert set(training_run["weight_dict"]) == expected
    assert training_run["loss_keys"] == expected


def test_loss_decreases_on_a_fixed_batch(training_run):
    history = training_run["history"]
    first, last = sum(history[:3]) / 3, sum(history[-3:]) / 3
    assert last < 0.7 * first, f"loss did not decrease enough: {history}"


def test_bitmasks_targets_are_accepted_and_padded():
    model = build_model(make_tiny_cfg(*ARCHITECTURES["mask2former"]))
    model.train()
    batch = synthetic_batch()
    for x in batch:
        x["image"] = x["image"][:, :50, :45]
        inst = Instances((50, 45))
        inst.gt_classes = x["instances"].gt_classes
        inst.gt_masks = BitMasks(x["instances"].gt_masks[:, :50, :45])
        x["instances"] = inst
    images = model.preprocess_image(batch)
    assert images.tensor.shape[-2:] == (64, 64)
    targets = model.prepare_targets([x["instances"] for x in batch], images)
    assert targets[0]["masks"].shape == (2, 64, 64)
    assert not targets[0]["masks"][:, 50:].any() and not targets[0]["masks"][:, :, 45:].any()
    assert torch.equal(targets[0]["masks"][:, :50, :45], batch[0]["instances"].gt_masks.tensor)
    losses = model(batch)
    assert all(torch.isfinite(v) for v in losses.values())
