"""Where ``MODEL.WEIGHTS`` comes from, checked before a model is built.

``fetch_weights`` returns the local file of a weights setting: the file itself, or for a URL
(``https://...``, ``detectron2://...``) its copy in Detectron2's download cache, downloaded
once through ``detectron2.utils.file_io.PathManager`` (iopath's cache: ``$FVCORE_CACHE``,
default ``~/.torch/iopath_cache``), which is where Detectron2's checkpointer then finds it.
Weights that cannot be had are one :class:`~mask2former.errors.UserError` line naming the file
or URL and how to get it, including the ImageNet backbones that the published configs name.
"""

import os
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from detectron2.utils.file_io import Detectron2Handler, PathManager
from iopath.common.file_io import get_cache_dir

from ..errors import UserError

__all__ = [
    "MissingWeightsError",
    "WeightsDownloadError",
    "cached_location",
    "fetch_weights",
    "how_to_get",
]

# how the command lines of this project take weights (KEY VALUE overrides)
DEFAULT_HINT = "`MODEL.WEIGHTS path/to/model_final.pth`"

# Where the ImageNet backbones of the published configs come from (the releases' tools/README)
_SWIN_RELEASE = "https://github.com/SwinTransformer/storage/releases/download/v1.0.0/"
_TORCHVISION_RESNETS = {
    "R-50.pkl": "https://download.pytorch.org/models/resnet50-19c8e357.pth",
    "R-101.pkl": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
}


class MissingWeightsError(UserError, ValueError):
    """The config names no weights, or names a local file that does not exist."""


class WeightsDownloadError(UserError, OSError):
    """Weights named by a URL that cannot be downloaded (offline, proxy, HTTP error)."""


def how_to_get(weights: str) -> str:
    """How to make the ImageNet backbone file that ``weights`` names (a published config's
    ``swin_*.pkl`` or torchvision ``R-*.pkl``), as a sentence; "" for other files."""
    name = os.path.basename(urlparse(weights).path)
    stem, ext = os.path.splitext(name)
    if name.startswith("swin_") and ext == ".pkl":
        return (
            f"{name} is the ImageNet Swin backbone in Detectron2's format: download "
            f"{_SWIN_RELEASE}{stem}.pth and convert it with "
            f"`python tools/convert-pretrained-swin-model-to-d2.py {stem}.pth {name}`"
        )
    if name in _TORCHVISION_RESNETS and not weights.startswith(Detectron2Handler.PREFIX):
        source = _TORCHVISION_RESNETS[name]
        return (
            f"{name} is torchvision's ImageNet ResNet in Detectron2's format: download {source} "
            f"and convert it with `python tools/convert-torchvision-to-d2.py "
            f"{os.path.basename(source)} {name}`"
        )
    return ""


def _https_url(url: str) -> str:
    if url.startswith(Detectron2Handler.PREFIX):
        return Detectron2Handler.S3_DETECTRON2_PREFIX + url[len(Detectron2Handler.PREFIX) :]
    return url


def cached_location(url: str) -> str:
    """The file that the download cache keeps ``url`` in (iopath's layout: the URL's path
    under the cache folder), whether or not it is there yet."""
    return os.path.join(get_cache_dir(), urlparse(_https_url(url)).path.lstrip("/"))


def _probe(url: str) -> None:
    """Raises ``URLError`` when the server of ``url`` cannot be reached (offline, no DNS, a
    proxy needed), before a download would start and draw its progress bar. Any answer of the
    server passes: the download itself reports HTTP errors."""
    try:
        with urlopen(Request(url, method="HEAD"), timeout=30):
            pass
    except HTTPError:
        pass


def fetch_weights(weights: str, hint: str = DEFAULT_HINT) -> str:
    """The local file of ``weights`` (a ``MODEL.WEIGHTS`` value), downloading a URL into the
    cache the first time.

    Args:
        weights: a path or URL; a ``?key=value`` suffix (read by the checkpointer) is ignored.
        hint: how the caller's command line takes another weights file, e.g.
            ``"`--weights FILE`"``; it ends the error messages.

    Raises:
        MissingWeightsError: ``weights`` is empty or names a file that does not exist.
        WeightsDownloadError: the URL cannot be downloaded.
    """
    if not weights:
        raise MissingWeightsError(
            f"the config sets no MODEL.WEIGHTS: pass trained weights with {hint}"
        )
    location = urlparse(weights)._replace(query="").geturl()  # as DetectionCheckpointer.load
    if "://" not in location:
        path = os.path.expanduser(location)
        if os.path.isfile(path):
            return path
        source = how_to_get(location)
        where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
        raise MissingWeightsError(
            f"MODEL.WEIGHTS file not found: {location}{where}; "
            + (f"{source}, or pass" if source else "pass")
            + f" another file with {hint}"
        )
    cached = cached_location(location)
    try:
        if not os.path.isfile(cached):
            _probe(_https_url(location))
        return PathManager.get_local_path(location)
    except OSError as e:  # URLError and HTTPError are OSErrors
        reason = getattr(e, "reason", None) or e
        source = how_to_get(location)
        raise WeightsDownloadError(
            f"cannot download MODEL.WEIGHTS {_https_url(location)} ({reason}); "
            f"it is cached as {cached} once downloaded: copy the file there"
            + (f" ({source})" if source else "")
            + f", or pass a local file with {hint}"
        ) from e
