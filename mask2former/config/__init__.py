"""Config keys (:mod:`.defaults`, the published ones; :mod:`.inference_options`), reading config files safely (:mod:`.loader`,
:mod:`.expression`), merging files and overrides (:mod:`.merge`) and refusing values that cannot
work (:mod:`.checks`)."""

from .checks import ConfigValueError
from .defaults import add_maskformer2_config
from .inference_options import add_inference_options_config
from .loader import ConfigFileError
from .merge import ConfigKeyError, merge_config

__all__ = [
    "ConfigFileError",
    "ConfigKeyError",
    "ConfigValueError",
    "add_inference_options_config",
    "add_maskformer2_config",
    "merge_config",
]
