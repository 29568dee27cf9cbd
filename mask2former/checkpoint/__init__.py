"""Weights: file formats (:mod:`.formats`: ``.pkl``, ``.pth``, ``.safetensors``, read without
running code), Detectron2's checkpointer extended with them and a report of what was loaded
(:mod:`.checkpointer`), atomic training checkpoints with a checksum of their tensors
(:mod:`.atomic`, :mod:`.checksum`), where ``MODEL.WEIGHTS`` comes from (:mod:`.fetch`), and
conversion from and to Hugging Face transformers (:mod:`.huggingface`)."""

from .atomic import AtomicCheckpointer, atomic_open
from .checkpointer import LoadReport, MaskFormerCheckpointer, UntrainedModelError
from .fetch import MissingWeightsError, WeightsDownloadError, fetch_weights
from .formats import (
    SAFETENSORS_SUFFIX,
    CheckpointReadError,
    CorruptCheckpointError,
    read_checkpoint,
    read_safetensors,
    read_torch_file,
    read_weights_pickle,
    write_d2_pickle,
    write_safetensors,
)

__all__ = [
    "AtomicCheckpointer",
    "CheckpointReadError",
    "CorruptCheckpointError",
    "LoadReport",
    "MaskFormerCheckpointer",
    "MissingWeightsError",
    "SAFETENSORS_SUFFIX",
    "UntrainedModelError",
    "WeightsDownloadError",
    "atomic_open",
    "fetch_weights",
    "read_checkpoint",
    "read_safetensors",
    "read_torch_file",
    "read_weights_pickle",
    "write_d2_pickle",
    "write_safetensors",
]
