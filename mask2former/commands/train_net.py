"""The command of ``train_net.py``: parse Detectron2's command line, check the config, data,
output folder and weights before anything starts, then train or evaluate in ``--num-gpus``
processes through Detectron2's launcher."""

import logging
import os

import detectron2.utils.comm as comm
from detectron2.engine import default_argument_parser, default_setup, hooks, launch
from detectron2.evaluation import verify_results
from detectron2.utils.logger import setup_logger

from .. import cli as cli_helpers
from ..checkpoint import MaskFormerCheckpointer
from ..checkpoint.fetch import DEFAULT_HINT, fetch_weights
from ..config import add_maskformer2_config
from ..data.datasets import check_datasets
from ..engine import Trainer
from ..engine.predictor import load_trained_weights
from ..model_zoo import config_name, get_checkpoint, resolve_config_file


def setup(args, add_config=add_maskformer2_config):
    """The frozen config of ``args`` (config file, then KEY VALUE overrides; an unknown key is
    reported with the file or override that sets it); sets up logging and writes the full
    config to OUTPUT_DIR/config.yaml. ``add_config(cfg)`` adds the model's config keys."""
    cfg = cli_helpers.load_config(args.config_file, args.opts, add_config)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mask2former")
    return cfg


def check_before_launch(args, add_config=add_maskformer2_config) -> None:
    """What would otherwise fail late (after the model is built, in a child process, or with
    Detectron2's traceback) checked first, each a one-line error: the config file and keys, a
    CUDA device, the datasets, the output folder and the weights (downloaded here, once, into
    Detectron2's cache when they are a URL)."""
    cfg = cli_helpers.load_config(args.config_file, args.opts, add_config)
    cli_helpers.check_device(cfg, fallback_to_cpu=False)
    if not args.eval_only:
        check_datasets(cfg.DATASETS.TRAIN, "DATASETS.TRAIN")
    check_datasets(cfg.DATASETS.TEST, "DATASETS.TEST")
    if cfg.OUTPUT_DIR:
        cli_helpers.check_output_dir(cfg.OUTPUT_DIR, "`OUTPUT_DIR path/to/folder`")
    resuming = args.resume and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint"))
    random_weights = args.eval_only and args.random_weights
    if cfg.MODEL.WEIGHTS and not resuming and not random_weights:
        fetch_weights(cfg.MODEL.WEIGHTS, weights_hint(args))


def weights_hint(args) -> str:
    """How to pass other weights; for --eval-only of a published config, its trained weights
    of the model zoo (the config names the ImageNet backbone that training starts from)."""
    name = config_name(args.config_file) if args.eval_only else None
    checkpoint = get_checkpoint(name) if name else None
    if checkpoint is None:
        return DEFAULT_HINT
    return f"`MODEL.WEIGHTS {checkpoint['url']}` (the model zoo's trained weights of this config)"


def main(args, trainer_class=Trainer, add_config=add_maskformer2_config):
    """Train, or with ``--eval-only`` evaluate, with ``trainer_class`` (train_net_video.py
    passes the video trainer and config keys)."""
    cfg = setup(args, add_config)
    if args.eval_only:
        model = trainer_class.build_model(cfg)
        if args.random_weights:
            logging.getLogger("mask2former").warning(
                "--random-weights: MODEL.WEIGHTS is not loaded; the metrics are an untrained "
                "model's"
            )
        else:
            checkpointer = MaskFormerCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
            load_trained_weights(
                checkpointer, cfg.MODEL.WEIGHTS, resume=args.resume, hint=weights_hint(args)
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


def get_parser():
    """Detectron2's ``default_argument_parser`` plus ``--random-weights``, ``--debug`` and
    ``--opts`` (an alias of the positional KEY VALUE overrides)."""
    parser = default_argument_parser()
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="with --eval-only: evaluate the untrained model instead of loading MODEL.WEIGHTS "
        "(for tests and benchmarks; the metrics are meaningless)",
    )
    return cli_helpers.add_config_arguments(parser, config_file=False, positional_overrides=False)


def parse_args(argv=None):
    args = get_parser().parse_args(argv)
    args.opts = cli_helpers.config_overrides(args)
    if args.config_file:
        # a shipped config's name becomes its path (default_setup logs the file's contents)
        args.config_file = resolve_config_file(args.config_file)
    return args


def launch_main(argv=None, main=main, add_config=add_maskformer2_config) -> None:
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None), check the config (with
    the keys ``add_config`` adds), and run ``main`` (by default :func:`main`) in ``--num-gpus``
    processes per machine through Detectron2's launcher."""
    args = parse_args(argv)
    check_before_launch(args, add_config)
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


def cli(argv=None, main=main, add_config=add_maskformer2_config, prog="train_net.py") -> int:
    """:func:`launch_main` with the shared error convention (:func:`mask2former.cli.run_cli`):
    a mistake of the user's is one line and exit status 2."""
    return cli_helpers.run_cli(lambda a: launch_main(a, main, add_config), argv, prog=prog)
