#!/usr/bin/env python
"""Train or evaluate MaskFormer / Mask2Former.

Same command line as Detectron2's tools/train_net.py and the published repositories:

    python train_net.py --config-file CONFIG [--num-gpus N] [--resume] [KEY VALUE ...]
    python train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model.pth

``--num-gpus N`` starts N processes (DDP over NCCL on GPUs, Gloo on CPU with
``MODEL.DEVICE cpu``); ``--num-machines``, ``--machine-rank`` and ``--dist-url`` spread a job
over machines. ``--resume`` continues from ``OUTPUT_DIR/last_checkpoint``. With
``TEST.AUG.ENABLED True`` semantic segmentation is also evaluated with multi-scale + flip
test-time augmentation. ``--eval-only`` refuses weights that leave the backbone or the head
untrained (no MODEL.WEIGHTS, or a file that does not fit the config) unless
``--random-weights`` (tests, benchmarks), which evaluates the untrained model.
"""
import logging

import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, hooks, launch
from detectron2.evaluation import verify_results
from detectron2.utils.logger import setup_logger

from mask2former import add_maskformer2_config
from mask2former.allocator import keep_freed_heap_memory
from mask2former.config import merge_config
from mask2former.checkpoint import MaskFormerCheckpointer
from mask2former.engine import Trainer
from mask2former.predictor import load_trained_weights


def setup(args):
    """The frozen config of ``args`` (config file, then KEY VALUE overrides; an unknown key is
    reported with the file or override that sets it); sets up logging and writes the full
    config to OUTPUT_DIR/config.yaml."""
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    merge_config(cfg, args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mask2former")
    return cfg


def main(args):
    keep_freed_heap_memory()
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        if getattr(args, "random_weights", False):  # absent from Detectron2-parsed args
            logging.getLogger("mask2former").warning(
                "--random-weights: MODEL.WEIGHTS is not loaded; the metrics are an untrained "
                "model's"
            )
        else:
            checkpointer = MaskFormerCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
            load_trained_weights(checkpointer, cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        if cfg.TEST.AUG.ENABLED:
            results.update(Trainer.test_with_TTA(cfg, model))
        if comm.is_main_process():
            verify_results(cfg, results)
        return results

    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    if cfg.TEST.AUG.ENABLED:
        trainer.register_hooks(
            [hooks.EvalHook(0, lambda: trainer.test_with_TTA(cfg, trainer.model))]
        )
    return trainer.train()


def cli(argv=None):
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None) and run :func:`main` in
    ``--num-gpus`` processes per machine through Detectron2's launcher."""
    parser = default_argument_parser()
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="with --eval-only: evaluate the untrained model instead of loading MODEL.WEIGHTS "
        "(for tests and benchmarks; the metrics are meaningless)",
    )
    args = parser.parse_args(argv)
    print("Command Line Args:", args)
    return launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


if __name__ == "__main__":
    cli()
