"""A checkpointer whose files are never left half-written."""
import os
import tempfile
from typing import Callable, IO

import torch

from ..checkpoint import MaskFormerCheckpointer


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, flushed to disk, then renamed
    over ``path``: a process killed at any moment leaves the old file or the new one."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise


class AtomicCheckpointer(MaskFormerCheckpointer):
    """:class:`MaskFormerCheckpointer` that saves atomically (see :func:`atomic_write`).

    The "last_checkpoint" tag is rewritten only after its checkpoint file is complete, so
    ``--resume`` after an interruption always finds a loadable checkpoint. Needs a local
    ``save_dir``.
    """

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        atomic_write(path, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write(
            os.path.join(self.save_dir, "last_checkpoint"),
            lambda f: f.write(last_filename_basename.encode()),
        )
