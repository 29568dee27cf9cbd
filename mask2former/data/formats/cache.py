"""Files derived from a dataset's own files (label maps converted to class indices, the
semantic labels and the instance annotations of panoptic annotations, the categories of a COCO
file), kept in a cache folder and rebuilt only when what they are made from changes."""

import hashlib
import json
import os
from typing import Callable, Sequence

from ...errors import UserError

__all__ = ["CacheNotWritableError", "DerivedFiles"]


class CacheNotWritableError(UserError, PermissionError):
    """A cache folder that derived files cannot be written to."""


def _stat_key(path: str) -> list:
    """What tells a changed file: its size and modification time (raises FileNotFoundError)."""
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


class DerivedFiles:
    """A cache folder of derived files, each rebuilt when one of its input files changes (size
    or modification time) or the way it is made does (``recipe``, any JSON-serialisable
    value). A manifest (``manifest.json`` in ``folder``) records what each file was made from;
    it is written by :meth:`save` (on leaving a ``with`` block). Files are written to a
    temporary name and renamed, so a process killed while building, or several processes
    building at once (one per GPU), never leave a partial file under the final name.
    """

    MANIFEST = "manifest.json"

    def __init__(self, folder: str):
        self.folder = folder
        self._manifest_path = os.path.join(folder, self.MANIFEST)
        try:
            with open(self._manifest_path, encoding="utf-8") as f:
                self._manifest = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            self._manifest = {}
        self._changed = False
        self.built = 0  # files (re)built by this instance

    def __enter__(self) -> "DerivedFiles":
        return self

    def __exit__(self, *exc) -> None:
        self.save()

    def get(self, name: str, inputs: Sequence[str], recipe, build: Callable[[str], None]) -> str:
        """The path of the derived file ``name`` (relative to the folder), built first with
        ``build(path)`` unless it exists and was made from the same ``inputs`` by the same
        ``recipe``. ``build`` writes the file at the path it is given (same extension)."""
        target = os.path.join(self.folder, name)
        key = hashlib.sha1(
            json.dumps([[_stat_key(p) for p in inputs], recipe], sort_keys=True).encode()
        ).hexdigest()
        if self._manifest.get(name) == key and os.path.isfile(target):
            return target
        folder, base = os.path.split(target)
        self._writable(folder)
        temporary = os.path.join(folder, f".{os.getpid()}.{base}")
        try:
            build(temporary)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        self._manifest[name] = key
        self._changed = True
        self.built += 1
        return target

    def _writable(self, folder: str) -> None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            error = e.strerror
        else:
            if os.access(folder, os.W_OK | os.X_OK):
                return
            error = "no permission to write"
        raise CacheNotWritableError(
            f"cannot write derived files into {folder} ({error}): choose a writable cache "
            "folder (the `cache` key of a dataset description)"
        )

    def save(self) -> None:
        """Write the manifest, if anything was built since it was read."""
        if not self._changed:
            return
        temporary = os.path.join(self.folder, f".{os.getpid()}.{self.MANIFEST}")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(self._manifest, f)
        os.replace(temporary, self._manifest_path)
        self._changed = False
