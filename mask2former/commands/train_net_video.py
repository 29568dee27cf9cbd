"""The command of ``train_net_video.py``: ``train_net.py``'s command line, checks and error
convention with the video trainer and config keys."""

import functools

from ..video import add_video_model_config
from ..video.trainer import VideoTrainer
from . import train_net

main = functools.partial(
    train_net.main, trainer_class=VideoTrainer, add_config=add_video_model_config
)


def cli(argv=None) -> int:
    """:func:`mask2former.commands.train_net.cli` with the video trainer and config keys."""
    return train_net.cli(
        argv, main=main, add_config=add_video_model_config, prog="train_net_video.py"
    )
