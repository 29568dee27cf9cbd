"""Module paths that users' code imports from the published releases and from earlier versions
of this project, aliased to where those modules live now (``install`` runs when
``mask2former`` is imported)."""

import importlib
import sys

# old dotted path -> current module
ALIASES = {
    # the published Mask2Former release
    "mask2former.maskformer_model": "mask2former.modeling.meta_arch.maskformer",
    "mask2former.test_time_augmentation": "mask2former.modeling.test_time_augmentation",
    "mask2former.modeling.matcher": "mask2former.modeling.criterion.matcher",
    "mask2former.modeling.meta_arch.mask_former_head": "mask2former.modeling.heads.mask_former_head",
    "mask2former.modeling.meta_arch.per_pixel_baseline": "mask2former.modeling.heads.per_pixel_baseline",
    "mask2former.modeling.transformer_decoder.position_encoding": "mask2former.layers.position_encoding",
    "mask2former.modeling.transformer_decoder.transformer": "mask2former.layers.transformer",
    # earlier versions of this project
    "mask2former.predictor": "mask2former.engine.predictor",
    "mask2former.engine.checkpointer": "mask2former.checkpoint.atomic",
}


def install() -> None:
    """Makes every old path of ``ALIASES`` import the current module (the same module object,
    so classes and registries are shared)."""
    for old, new in ALIASES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
