"""A checkpointer whose files are never left half-written."""

import contextlib
import os
import re
import secrets
from typing import IO, Any, Dict, Iterator

from .checkpointer import MaskFormerCheckpointer
from .checksum import CHECKSUM_KEY, tensor_checksum

# The temporary files of atomic_open: ".<name>.<8 characters>.tmp" (tempfile.mkstemp's
# characters also match, for files left by earlier versions).
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Open ``path`` for writing (``mode`` "w" or "wb") through a temporary file in the same
    folder, flushed to disk and renamed over ``path`` when the ``with`` block ends; if the
    block raises, the temporary file is removed and ``path`` is left as it was. A process
    killed at any moment leaves the old file or the new one (and perhaps the temporary file,
    which :class:`AtomicCheckpointer` removes later). The file's mode honours the umask, like
    any file the process creates (0644 with the usual 022)."""
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        tmp_path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise


class AtomicWritesPathManager:
    """A checkpointer's path manager (iopath's interface) whose files opened for writing are
    written with :func:`atomic_open`; reading, listing and removing files are the wrapped
    path manager's."""

    def __init__(self, path_manager):
        self.wrapped = path_manager

    def open(self, path: str, mode: str = "r", **kwargs):
        if "w" in mode:
            return atomic_open(path, mode)
        return self.wrapped.open(path, mode, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)


class AtomicCheckpointer(MaskFormerCheckpointer):
    """:class:`MaskFormerCheckpointer` that saves atomically (see :func:`atomic_open`).

    The "last_checkpoint" tag is rewritten only after its checkpoint file is complete, so
    ``--resume`` after an interruption always finds a loadable checkpoint. Each checkpoint
    carries a checksum of its tensors (:mod:`mask2former.checkpoint.checksum`), verified when
    it is loaded. Temporary files that a killed save left in ``save_dir`` (up to a full
    checkpoint each) are removed when the checkpointer is created and at every save. Needs a
    local ``save_dir``.
    """

    def __init__(self, model, save_dir="", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.path_manager = AtomicWritesPathManager(self.path_manager)
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
        """The checkpointer's ``save``, writing the files atomically through
        :class:`AtomicWritesPathManager`, with the checksum of the checkpoint's tensors."""
        if not self.save_dir or not self.save_to_disk:
            return
        self.remove_stale_temporary_files()
        checksum = tensor_checksum(self.checkpoint_contents(**kwargs))
        super().save(name, **kwargs, **{CHECKSUM_KEY: checksum})

    def checkpoint_contents(self, **extra: Any) -> Dict[str, Any]:
        """What ``save(name, **extra)`` writes, in the order fvcore's ``Checkpointer.save``
        writes it: the model's state, each checkpointable's, then ``extra``."""
        contents = {"model": self.model.state_dict()}
        contents.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        contents.update(extra)
        return contents
