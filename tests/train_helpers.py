"""Shared pieces of the training tests: a generated shapes dataset and a config small enough
that a training iteration takes a fraction of a second on 2 CPU cores."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART_SEMANTIC = os.path.join(REPO, "configs", "quickstart", "semantic.yaml")

# KEY VALUE overrides of configs/quickstart/semantic.yaml: 64x64 crops, batch 2, 2 decoder layers
TINY_TRAINING_OPTS = [
    "SOLVER.IMS_PER_BATCH", "2",
    "INPUT.MIN_SIZE_TRAIN", "(64,)",
    "INPUT.MAX_SIZE_TRAIN", "128",
    "INPUT.CROP.SIZE", "[64, 64]",
    "INPUT.SIZE_DIVISIBILITY", "64",
    "MODEL.MASK_FORMER.DEC_LAYERS", "2",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "256",
    "DATALOADER.NUM_WORKERS", "0",
    "DATASETS.TEST", "()",
    "SOLVER.WARMUP_ITERS", "2",
]


def generate_tiny_shapes(root) -> str:
    """A few shapes images under ``root`` (a datasets root); returns ``root``."""
    from mask2former.data.shapes import generate

    generate(str(root), num_train=4, num_val=2)
    return str(root)
