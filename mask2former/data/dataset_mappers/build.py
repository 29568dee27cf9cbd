"""Registry of dataset mappers, keyed by ``cfg.INPUT.DATASET_MAPPER_NAME``."""

from detectron2.utils.registry import Registry

DATASET_MAPPER_REGISTRY = Registry("DATASET_MAPPER")
DATASET_MAPPER_REGISTRY.__doc__ = """
Dataset mappers: callables turning a dataset record into the model's input dict. An entry is
a function named after its config value (INPUT.DATASET_MAPPER_NAME, e.g.
``mask_former_semantic``), called as ``fn(cfg, is_train)``, that returns the mapper; register
one with ``@DATASET_MAPPER_REGISTRY.register()``.
"""


def build_dataset_mapper(cfg, is_train: bool = True):
    """Build the mapper named by ``cfg.INPUT.DATASET_MAPPER_NAME``.

    Raises:
        KeyError: for an unknown name, listing the registered ones.
    """
    name = cfg.INPUT.DATASET_MAPPER_NAME
    if name not in DATASET_MAPPER_REGISTRY:
        valid = ", ".join(sorted(k for k, _ in DATASET_MAPPER_REGISTRY))
        raise KeyError(
            f"INPUT.DATASET_MAPPER_NAME={name!r} is not a registered mapper; valid: {valid}"
        )
    return DATASET_MAPPER_REGISTRY.get(name)(cfg, is_train)
