"""A config and weights of this project to a transformers checkpoint folder."""

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

from detectron2.modeling import build_model

from ...config import merge_config
from ..checkpointer import MaskFormerCheckpointer
from .architecture import architecture_of, tensor_plan, transformers_config
from .errors import ConversionError
from .folder import write_folder
from .preprocessing import image_processor_config
from .project_files import dataset_class_names, new_cfg, transformers_extras

__all__ = ["Exported", "export_checkpoint"]


@dataclass
class Exported:
    """What :func:`export_checkpoint` wrote; ``defaults``: transformers-only tensors written
    with their initial values (none were kept aside)."""

    files: List[str]
    num_tensors: int
    defaults: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _class_names_of(cfg) -> Tuple[List[str], List[str]]:
    """Class names from the metadata of DATASETS.TEST / TRAIN, and notes."""
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES
    for name in list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN):
        names = dataset_class_names(name, num_classes)
        if names is not None:
            return names, []
    return [f"LABEL_{i}" for i in range(num_classes)], [
        f"no dataset of DATASETS.TEST / TRAIN has {num_classes} class names: id2label holds "
        "transformers' placeholder names LABEL_<i>"
    ]


def export_checkpoint(
    config_file: str, weights: str, out_dir: str, opts: Sequence[str] = ()
) -> Exported:
    """Writes the model of ``config_file`` with ``weights`` as a transformers checkpoint
    folder (config.json, model.safetensors, preprocessor_config.json) in ``out_dir``."""
    cfg = new_cfg()
    merge_config(cfg, config_file, opts)
    cfg.MODEL.DEVICE = "cpu"
    plan = tensor_plan(cfg)
    architecture = architecture_of(cfg)
    names, notes = _class_names_of(cfg)
    config = transformers_config(cfg, names)
    processor = image_processor_config(cfg, architecture)

    model = build_model(cfg)
    checkpointer = MaskFormerCheckpointer(model)
    entries = checkpointer.load(weights)  # what the file holds besides the weights
    report = checkpointer.last_report
    if not report.complete:
        raise ConversionError(
            f"{weights}: does not fill the model of {config_file}: {report.summary()}"
        )
    carried, dtype = transformers_extras(entries)
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    converted = plan.to_theirs(state, carried, weights)
    files = write_folder(out_dir, config, converted.tensors, processor)
    return Exported(files, len(converted.tensors), converted.defaults, notes)
