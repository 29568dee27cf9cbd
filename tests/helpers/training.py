"""Pieces of the training tests: a synthetic batch, a generated shapes dataset, overrides that
make a quickstart config train an iteration in a fraction of a second on 2 CPU cores, and the
command lines and stubs of the train_net.py tests."""

import torch
from detectron2.structures import Instances

from helpers.paths import QUICKSTART_CONFIGS

QUICKSTART_SEMANTIC = str(QUICKSTART_CONFIGS / "semantic.yaml")

# KEY VALUE overrides of configs/quickstart/semantic.yaml: 64x64 crops, batch 2, DEC_LAYERS 2
TINY_TRAINING_OPTS = [
    "SOLVER.IMS_PER_BATCH",
    "2",
    "INPUT.MIN_SIZE_TRAIN",
    "(64,)",
    "INPUT.MAX_SIZE_TRAIN",
    "128",
    "INPUT.CROP.SIZE",
    "[64, 64]",
    "INPUT.SIZE_DIVISIBILITY",
    "64",
    "MODEL.MASK_FORMER.DEC_LAYERS",
    "2",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS",
    "256",
    "DATALOADER.NUM_WORKERS",
    "0",
    "DATASETS.TEST",
    "()",
    "SOLVER.WARMUP_ITERS",
    "2",
]


def launcher_args(config: str) -> list:
    """train_net.py's arguments with every flag of the distributed launcher: resume, 2 GPUs on
    each of 3 machines, this one of rank 1, the rendezvous URL tcp://10.0.0.1:1234, and the
    override SOLVER.MAX_ITER 7."""
    return [
        "--config-file",
        config,
        "--resume",
        "--num-gpus",
        "2",
        "--num-machines",
        "3",
        "--machine-rank",
        "1",
        "--dist-url",
        "tcp://10.0.0.1:1234",
        "SOLVER.MAX_ITER",
        "7",
    ]


def eval_only_args(config: str, output_dir, *overrides: str) -> list:
    """train_net.py's arguments evaluating the untrained model of ``config`` into
    ``output_dir``, with these KEY VALUE overrides."""
    args = ["--config-file", config, "--eval-only", "--random-weights", "MODEL.WEIGHTS", ""]
    return args + ["OUTPUT_DIR", str(output_dir), *overrides]


def stub_evaluation(monkeypatch, trainer_class, results: dict) -> dict:
    """Replaces the model of ``trainer_class`` by a linear layer and its evaluation by one
    returning ``results``; the dict returned receives the evaluated config under "cfg"."""
    seen = {}

    def test(cfg, model, evaluators=None):
        seen["cfg"] = cfg
        return results

    monkeypatch.setattr(trainer_class, "test", staticmethod(test))
    monkeypatch.setattr(
        trainer_class, "build_model", staticmethod(lambda cfg: torch.nn.Linear(1, 1))
    )
    return seen


def generate_tiny_shapes(root) -> str:
    """A few shapes images under ``root`` (a datasets root); returns ``root``."""
    from mask2former.data.shapes import generate

    generate(str(root), num_train=4, num_val=2)
    return str(root)


def synthetic_batch(size: int = 64):
    """Two images, each with two rectangles of different classes painted in class colours."""
    colours = torch.tensor(
        [[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30], [30, 200, 200]]
    )
    boxes = [
        [(1, (4, 4, 30, 40)), (3, (36, 10, 60, 60))],
        [(0, (10, 30, 50, 60)), (4, (2, 2, 40, 20))],
    ]
    batch = []
    for image_boxes in boxes:
        image = torch.full((3, size, size), 90.0)
        masks, classes = [], []
        for cls, (x0, y0, x1, y1) in image_boxes:
            mask = torch.zeros(size, size, dtype=torch.bool)
            mask[y0:y1, x0:x1] = True
            image[:, mask] = colours[cls, :, None].float()
            masks.append(mask)
            classes.append(cls)
        inst = Instances((size, size))
        inst.gt_classes = torch.tensor(classes, dtype=torch.int64)
        inst.gt_masks = torch.stack(masks)
        batch.append({"image": image, "instances": inst, "height": size, "width": size})
    return batch
