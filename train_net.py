#!/usr/bin/env python
"""Train or evaluate MaskFormer / Mask2Former.

Same command line as Detectron2's tools/train_net.py and the published repositories:

    python train_net.py --config-file CONFIG [--num-gpus N] [--resume] [KEY VALUE ...]
    python train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model.pth

``--num-gpus N`` starts N processes (DDP over NCCL on GPUs, Gloo on CPU with
``MODEL.DEVICE cpu``); ``--num-machines``, ``--machine-rank`` and ``--dist-url`` spread a job
over machines. ``--resume`` continues from ``OUTPUT_DIR/last_checkpoint``. With
``TEST.AUG.ENABLED True`` semantic segmentation is also evaluated with multi-scale + flip
test-time augmentation.
"""
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


def setup(args, add_config=add_maskformer2_config):
    """The frozen config of ``args`` (config file, then KEY VALUE overrides; an unknown key is
    reported with the file or override that sets it); sets up logging and writes the full
    config to OUTPUT_DIR/config.yaml. ``add_config(cfg)`` adds the model's config keys."""
    cfg = get_cfg()
    add_config(cfg)
    merge_config(cfg, args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mask2former")
    return cfg


def main(args, trainer_class=Trainer, add_config=add_maskformer2_config):
    """Train, or with ``--eval-only`` evaluate, with ``trainer_class`` (train_net_video.py
    passes the video trainer and config keys)."""
    keep_freed_heap_memory()
    cfg = setup(args, add_config)
    if args.eval_only:
        model = trainer_class.build_model(cfg)
        MaskFormerCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = trainer_class.test(cfg, model)
        if cfg.TEST.AUG.ENABLED:
            results.update(trainer_class.test_with_TTA(cfg, model))
        if comm.is_main_process():
            verify_results(cfg, results)
        return results

    trainer = trainer_class(cfg)
    trainer.resume_or_load(resume=args.resume)
    if cfg.TEST.AUG.ENABLED:
        trainer.register_hooks(
            [hooks.EvalHook(0, lambda: trainer.test_with_TTA(cfg, trainer.model))]
        )
    return trainer.train()


def cli(argv=None, main=main):
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None) and run ``main`` (by
    default :func:`main`) in ``--num-gpus`` processes per machine through Detectron2's
    launcher."""
    args = default_argument_parser().parse_args(argv)
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
