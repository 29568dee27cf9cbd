#!/usr/bin/env python
"""Time the generation of the shapes dataset and each dataset mapper on it; prints a table.

python datasets/benchmark_data.py [--num-train 60] [--num-val 20] [--threads 1]
"""

import argparse
import copy
import tempfile
import time

MAPPERS = (
    ("mask_former_semantic", "shapes_sem_seg_train"),
    ("mask_former_panoptic", "shapes_panoptic_train"),
    ("mask_former_instance", "shapes_instance_train"),
    ("coco_instance_lsj", "shapes_instance_train"),
    ("coco_panoptic_lsj", "shapes_panoptic_train"),
)


def _config(mapper_name, dataset):
    from detectron2.config import get_cfg

    from mask2former import add_maskformer2_config

    cfg = get_cfg()
    add_maskformer2_config(cfg)
    cfg.DATASETS.TRAIN = (dataset,)
    cfg.INPUT.DATASET_MAPPER_NAME = mapper_name
    # the geometry of the published ADE20K configs, scaled to the ~160 px shapes images
    cfg.INPUT.MIN_SIZE_TRAIN = tuple(range(80, 321, 16))
    cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    cfg.INPUT.MAX_SIZE_TRAIN = 640
    cfg.INPUT.CROP.ENABLED = True
    cfg.INPUT.CROP.TYPE = "absolute"
    cfg.INPUT.CROP.SIZE = (128, 128)
    cfg.INPUT.CROP.SINGLE_CATEGORY_MAX_AREA = 1.0
    cfg.INPUT.COLOR_AUG_SSD = True
    cfg.INPUT.SIZE_DIVISIBILITY = 128
    cfg.INPUT.IMAGE_SIZE = 128
    return cfg


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-train", type=int, default=60)
    parser.add_argument("--num-val", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (data workers use 1)")
    args = parser.parse_args()

    import torch
    from detectron2.data import DatasetCatalog

    from mask2former.data import build_dataset_mapper
    from mask2former.data.datasets import register_all_shapes
    from mask2former.data.shapes import generate

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        generate(root, args.num_train, args.num_val)
        seconds = time.perf_counter() - start
        print(
            f"shapes generation: {args.num_train} train + {args.num_val} val images in {seconds:.2f} s\n"
        )
        register_all_shapes(root)
        print("| mapper | dataset | images | ms / image |")
        print("|---|---|---|---|")
        for mapper_name, dataset in MAPPERS:
            mapper = build_dataset_mapper(_config(mapper_name, dataset), is_train=True)
            records = DatasetCatalog.get(dataset)
            start = time.perf_counter()
            for record in records:
                mapper(copy.deepcopy(record))
            ms = 1000 * (time.perf_counter() - start) / len(records)
            print(f"| {mapper_name} | {dataset} | {len(records)} | {ms:.1f} |")


if __name__ == "__main__":
    main()
