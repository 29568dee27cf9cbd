"""A checkpointer whose files are never left half-written."""
import os
import re
import secrets
from typing import IO, Callable

import torch

from .checkpointer import MaskFormerCheckpointer
from .checksum import CHECKSUM_KEY, tensor_checksum

# The temporary files of atomic_write: ".<name>.<8 characters>.tmp" (tempfile.mkstemp's
# characters also match, for files left by earlier versions).
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, flushed to disk, then renamed
    over ``path``: a process killed at any moment leaves the old file or the new one (and
    perhaps the temporary file, which :class:`AtomicCheckpointer` removes later). The file's
    mode honours the umask, like any file the process creates (0644 with the usual 022)."""
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        tmp_path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
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
    ``--resume`` after an interruption always finds a loadable checkpoint. Each checkpoint
    carries a checksum of its tensors (:mod:`mask2former.checkpoint.checksum`), verified when
    it is loaded. Temporary files that a killed save left in ``save_dir`` (up to a full
    checkpoint each) are removed when the checkpointer is created and at every save. Needs a
    local ``save_dir``.
    """

    def __init__(self, model, save_dir="", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.remove_stale_temporary_files()

    def remove_stale_temporary_files(self) -> None:
        """Removes the temporary files of interrupted saves of checkpoints (``.<name>.pth.*.tmp``)
        and of the ``last_checkpoint`` tag from ``save_dir``."""
        if not self.save_dir or not self.save_to_disk or not os.path.isdir(self.save_dir):
            return
        stale = []
        for entry in os.listdir(self.save_dir):
            match = _TEMPORARY.match(entry)
            if match and (match["name"].endswith(".pth") or match["name"] == "last_checkpoint"):
                os.unlink(os.path.join(self.save_dir, entry))
                stale.append(entry)
        if stale:
            self.logger.info(
                f"Removed {len(stale)} temporary file(s) of interrupted checkpoint saves from "
                f"{self.save_dir}: {', '.join(sorted(stale))}"
            )

    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        self.remove_stale_temporary_files()
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        data[CHECKSUM_KEY] = tensor_checksum(data)
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
