"""A checksum of the tensors of a checkpoint, so that a corrupted file is detected when loaded.

A ``.pth`` file whose tensor bytes were damaged (a bad disk, a copy cut short and padded, bits
flipped) still unpickles: ``torch.load`` reads tensor data without any check. Checkpoints that
this project writes (:class:`~mask2former.engine.AtomicCheckpointer`) carry the SHA-256 of
every tensor they hold (names, dtypes, shapes and bytes) under :data:`CHECKSUM_KEY`;
:func:`verify_checksum` recomputes it when the file is read
(:func:`mask2former.checkpoint.read_torch_file`). Files without it (the published
checkpoints, older ones) are read as before.
"""

import hashlib
from typing import Any, Dict, Optional

import torch

__all__ = ["CHECKSUM_KEY", "tensor_checksum", "verify_checksum"]

CHECKSUM_KEY = "tensor_checksum"


def _update(digest, path: str, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{path}:{value.dtype}:{tuple(value.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    elif isinstance(value, dict):
        for key, item in value.items():
            _update(digest, f"{path}/{key}", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _update(digest, f"{path}/{index}", item)


def tensor_checksum(checkpoint: Dict[str, Any]) -> Dict[str, str]:
    """``{"sha256": hex digest}`` of every tensor in ``checkpoint`` (nested dicts, lists and
    tuples walked in order; each tensor's path, dtype, shape and bytes), the checksum entry
    itself left out."""
    digest = hashlib.sha256()
    _update(digest, "", {k: v for k, v in checkpoint.items() if k != CHECKSUM_KEY})
    return {"sha256": digest.hexdigest()}


def verify_checksum(checkpoint: Dict[str, Any]) -> Optional[str]:
    """Removes :data:`CHECKSUM_KEY` from ``checkpoint`` after checking it: None when the
    tensors match it or the checkpoint has none (published, older files), else what differs."""
    expected = checkpoint.pop(CHECKSUM_KEY, None)
    if expected is None:
        return None
    actual = tensor_checksum(checkpoint)["sha256"]
    recorded = expected.get("sha256") if isinstance(expected, dict) else expected
    if actual == recorded:
        return None
    return (
        f"its tensors do not match the checksum it was written with (SHA-256 {actual[:16]}..., "
        f"recorded {str(recorded)[:16]}...)"
    )
