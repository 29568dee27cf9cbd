"""The trainer of ``train_net.py``: Detectron2's DefaultTrainer with this project's data
mappers, evaluators, optimizer, schedule, atomic checkpoints and test-time augmentation."""

import logging
import os
import weakref
from collections import OrderedDict

import torch
from detectron2.engine import DefaultTrainer, TrainerBase, create_ddp_model
from detectron2.modeling import build_model
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint.atomic import AtomicCheckpointer
from ..data import build_dataset_mapper
from ..data.broken_samples import build_train_loader_skipping_broken
from ..evaluation import build_evaluator
from ..modeling.test_time_augmentation import SemanticSegmentorWithTTA
from ..solver import apply_schedule, build_lr_scheduler, build_optimizer
from .model_log import log_model
from .train_loop import MaskFormerAMPTrainer, MaskFormerCPUAMPTrainer, MaskFormerSimpleTrainer

logger = logging.getLogger(__name__)


def step_trainer_class(cfg):
    """The single-step trainer of ``cfg``: with SOLVER.AMP.ENABLED, Detectron2's CUDA mixed
    precision (float16 with gradient scaling) on a CUDA device and bfloat16 autocast on the
    CPU (logged once); float32 otherwise."""
    if not cfg.SOLVER.AMP.ENABLED:
        return MaskFormerSimpleTrainer
    if cfg.MODEL.DEVICE.startswith("cuda"):
        return MaskFormerAMPTrainer
    message = "SOLVER.AMP.ENABLED on CPU: training forward passes run under bfloat16 autocast"
    capability = torch.backends.cpu.get_cpu_capability()
    if "AVX512" not in capability:
        message += (
            f"; this CPU has no AVX-512 (PyTorch's CPU capability: {capability}), so oneDNN has "
            "no bfloat16 convolutions here and a step is an order of magnitude slower than in "
            "float32 (docs/performance.md): set SOLVER.AMP.ENABLED False on this machine"
        )
    logger.warning(message)
    return MaskFormerCPUAMPTrainer


class Trainer(DefaultTrainer):
    """DefaultTrainer for MaskFormer / Mask2Former.

    Differences from Detectron2's: the training mapper comes from INPUT.DATASET_MAPPER_NAME,
    evaluators from the dataset's evaluator type and MODEL.MASK_FORMER.TEST, the optimizer and
    schedule from :mod:`mask2former.solver`; checkpoints are written atomically, a NaN or
    infinite loss term stops training with its name and iteration, DDP runs on CPU (Gloo)
    as well as on GPUs, SOLVER.AMP.ENABLED trains under bfloat16 autocast on CPU (Detectron2's
    AMP trainer needs CUDA), and the model printout goes to the log file only (one summary line
    on the console).
    """

    def __init__(self, cfg):
        # DefaultTrainer.__init__ re-typed, as it cannot be extended: it wraps the model with
        # create_ddp_model(model) before any hook, whose device_ids=[local rank] fail for a
        # CPU model, and hard-codes its step trainers and checkpointer
        # (tests/test_framework_guards.py flags a new Detectron2 version of it for review).
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())

        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        # DDP of a CPU model takes no device ids
        ddp_kwargs = {} if cfg.MODEL.DEVICE.startswith("cuda") else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_kwargs)
        self._trainer = step_trainer_class(cfg)(model, data_loader, optimizer)

        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = AtomicCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def resume_or_load(self, resume=True):
        """DefaultTrainer's, then, when a run resumes, the learning rates of the config's
        schedule at the resumed iteration (the checkpoint's are the old schedule's if the
        config changed it, e.g. a longer SOLVER.MAX_ITER)."""
        super().resume_or_load(resume)
        if resume and self.checkpointer.has_checkpoint() and self.start_iter < self.max_iter:
            apply_schedule(self.scheduler)

    def train(self):
        """Train from ``start_iter`` to SOLVER.MAX_ITER; returns the results of the evaluation
        after the last iteration (DefaultTrainer returns them only with TEST.EXPECTED_RESULTS)."""
        super().train()
        return getattr(self, "_last_eval_results", None)

    @classmethod
    def build_model(cls, cfg):
        """Detectron2's ``build_model``, logged by :func:`log_model` through the logger that
        DefaultTrainer logs the model with."""
        model = build_model(cfg)
        log_model(model, logging.getLogger("detectron2.engine.defaults"))
        return model

    @classmethod
    def build_train_loader(cls, cfg):
        # broken samples are skipped, named in the log and counted in the metrics
        return build_train_loader_skipping_broken(cfg, build_dataset_mapper(cfg, True))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def test_with_TTA(cls, cfg, model):
        """Evaluate with :class:`SemanticSegmentorWithTTA` (TEST.AUG.*). The keys of
        :meth:`test`'s result get a "_TTA" suffix ("sem_seg_TTA" for a single test set)."""
        logger.info("Running inference with test-time augmentation ...")
        model = SemanticSegmentorWithTTA(cfg, model)
        evaluators = [
            cls.build_evaluator(
                cfg, name, output_folder=os.path.join(cfg.OUTPUT_DIR, "inference_TTA")
            )
            for name in cfg.DATASETS.TEST
        ]
        results = cls.test(cfg, model, evaluators)
        return OrderedDict((key + "_TTA", value) for key, value in results.items())
