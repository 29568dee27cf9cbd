"""The model's description in a training log: one line on the console, the full printout
(hundreds of lines) only in the log files."""

import logging
import sys

import torch

__all__ = ["log_model", "model_summary"]


def model_summary(model: torch.nn.Module) -> str:
    """'Model: MaskFormer, 44,014,237 parameters (43,989,345 trainable)'."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"Model: {type(model).__name__}, {total:,} parameters ({trainable:,} trainable)"


def _is_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return not isinstance(handler, logging.FileHandler) and any(stream is c for c in consoles)


def log_model(model: torch.nn.Module, logger: logging.Logger) -> None:
    """Logs :func:`model_summary` at INFO through ``logger``, and Detectron2's "Model:\\n<the
    module printout>" at INFO only to the handlers (of ``logger`` and the loggers it
    propagates to) that are not the console, i.e. Detectron2's log.txt files."""
    logger.info(f"{model_summary(model)}; its layers are printed in the log file")
    if not logger.isEnabledFor(logging.INFO):
        return
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, f"Model:\n{model}", None, None
    )
    current = logger
    while current is not None:
        for handler in current.handlers:
            if not _is_console(handler) and record.levelno >= handler.level:
                handler.handle(record)
        current = current.parent if current.propagate else None
