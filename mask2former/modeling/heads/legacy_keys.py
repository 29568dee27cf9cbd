"""Loading checkpoints saved before the pixel decoder became a submodule of the head."""

import logging

logger = logging.getLogger(__name__)


def move_pixel_decoder_keys(state_dict, prefix: str, local_metadata) -> None:
    """In place: rename ``{prefix}X`` to ``{prefix}pixel_decoder.X`` for every key of the head
    that belongs neither to ``predictor`` nor already to ``pixel_decoder``.

    Published checkpoints whose metadata predates version 2 (including model-zoo ``.pkl``
    files, which carry no metadata) store the pixel decoder's weights directly under the head.
    Keys already in the current layout are left alone, so both layouts load."""
    if local_metadata.get("version", 0) >= 2:
        return
    keep = (prefix + "predictor", prefix + "pixel_decoder.")
    old_keys = [k for k in state_dict if k.startswith(prefix) and not k.startswith(keep)]
    for k in old_keys:
        state_dict[prefix + "pixel_decoder." + k[len(prefix) :]] = state_dict.pop(k)
    if old_keys:
        logger.warning(
            f"Moved {len(old_keys)} checkpoint keys under '{prefix}pixel_decoder.' "
            "(checkpoint from before the pixel decoder was a submodule)"
        )
