"""What the commands that run a trained model on images share (``demo/demo.py``,
``tools/predict.py``): the images named on the command line and the config with its weights."""

import glob
import logging
import os
from typing import Callable, List, Optional, Tuple

from .. import model_zoo
from ..checkpoint.fetch import fetch_weights
from ..cli import check_device, load_config

__all__ = ["IMAGE_EXTENSIONS", "expand_inputs", "inference_config", "zoo_checkpoint"]

logger = logging.getLogger(__name__)

# what a folder given to --input expands to
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def expand_inputs(patterns: List[str]) -> Tuple[List[str], List[str]]:
    """Files named by ``patterns`` (files, folders, glob patterns) in the given order, and the
    patterns that name no file."""
    paths, unmatched = [], []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(
                os.path.join(pattern, name)
                for name in os.listdir(pattern)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.exists(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
        if found:
            paths.extend(found)
        else:
            unmatched.append(pattern)
    return paths, unmatched


def zoo_checkpoint(config_file: str, opts: List[str]) -> Optional[dict]:
    """The model zoo's trained checkpoint (``model_zoo.get_checkpoint``) of ``config_file``
    when it is a published config and ``opts`` set no MODEL.WEIGHTS (published configs name
    ImageNet backbone weights, which give noise); else None."""
    if "MODEL.WEIGHTS" in opts[::2]:
        return None
    name = model_zoo.config_name(config_file)
    return model_zoo.get_checkpoint(name) if name else None


def inference_config(
    config_file: str,
    opts: List[str],
    weights_hint: str,
    random_weights: bool = False,
    check: Optional[Callable] = None,
):
    """The frozen config: ``config_file`` (a file or a shipped name) and ``opts``, checked in
    the order of the cheap mistakes first: the keys, ``check(cfg)`` (e.g. the task asked
    for), then the weights (unless ``random_weights``; for a published config without
    MODEL.WEIGHTS, the model zoo's, downloaded once into the cache; ``weights_hint`` says how
    to name others); the CPU when the config asks for CUDA and there is none (a warning)."""
    config_file = model_zoo.resolve_config_file(config_file)
    cfg = load_config(config_file, opts)
    if check is not None:
        check(cfg)
    if not random_weights:
        checkpoint = zoo_checkpoint(config_file, opts)
        if checkpoint is not None:
            cfg.MODEL.WEIGHTS = checkpoint["url"]
        local = fetch_weights(cfg.MODEL.WEIGHTS, weights_hint)
        if checkpoint is not None:
            metrics = ", ".join(f"{k} {v}" for k, v in checkpoint["metrics"].items())
            logger.info(
                f"MODEL.WEIGHTS: the model zoo's {checkpoint['method']} {checkpoint['backbone']} "
                f"trained on {checkpoint['dataset']} ({metrics}), {local}"
            )
    check_device(cfg, fallback_to_cpu=True)
    cfg.freeze()
    return cfg
