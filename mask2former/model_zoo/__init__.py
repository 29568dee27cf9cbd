"""Configs and trained checkpoints by name, in the style of ``detectron2.model_zoo``.

    from mask2former import model_zoo

    path = model_zoo.get_config_file("ade20k/swin_L.yaml")      # the shipped config file
    url = model_zoo.get_checkpoint_url("ade20k/swin_L.yaml")    # its published trained weights
    cfg = model_zoo.get_config("ade20k/swin_L.yaml", trained=True)  # MODEL.WEIGHTS = url

Names are paths relative to the repository's ``configs/`` folder; they work from any folder and
from an installed package. Every entry point's ``--config-file`` takes a file or such a name
(:func:`resolve_config_file`).
"""

from detectron2.config import get_cfg

from ..config import add_inference_options_config, add_maskformer2_config, merge_config
from .checkpoints import (
    NoPublishedCheckpointError,
    checkpoint_table,
    get_checkpoint,
    get_checkpoint_url,
)
from .configs import (
    ConfigFileNotFoundError,
    config_name,
    configs_root,
    get_config_file,
    list_configs,
    resolve_config_file,
)

__all__ = [
    "ConfigFileNotFoundError",
    "NoPublishedCheckpointError",
    "checkpoint_table",
    "config_name",
    "configs_root",
    "get_checkpoint",
    "get_checkpoint_url",
    "get_config",
    "get_config_file",
    "list_configs",
    "resolve_config_file",
]


def get_config(config_path: str, trained: bool = False):
    """A new config (Detectron2's defaults, this project's keys, then the shipped config).

    Args:
        config_path: a shipped config's name, as for :func:`get_config_file`.
        trained: set ``MODEL.WEIGHTS`` to the published trained checkpoint
            (:func:`get_checkpoint_url`) instead of the ImageNet backbone the config names.
    """
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    add_inference_options_config(cfg)
    merge_config(cfg, get_config_file(config_path))
    if trained:
        cfg.MODEL.WEIGHTS = get_checkpoint_url(config_path)
    return cfg
