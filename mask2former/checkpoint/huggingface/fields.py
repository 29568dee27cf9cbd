"""Reading transformers config dicts: class defaults for keys a file leaves out, and one clear
error for a value this project cannot represent."""

from typing import Any, Dict, Sequence

from .errors import ConversionError

__all__ = ["Fields", "stage_features"]


class Fields:
    """One transformers config dict (``where`` names it in messages, e.g. "config.json
    backbone_config") with ``defaults``: the values transformers' config class gives keys that
    the file does not hold."""

    def __init__(self, data: Dict[str, Any], defaults: Dict[str, Any], where: str):
        self.data = data
        self.defaults = defaults
        self.where = where

    def __getitem__(self, key: str):
        if key in self.data:
            return self.data[key]
        if key in self.defaults:
            return self.defaults[key]
        raise ConversionError(f"{self.where}: no {key!r}; expected it in a transformers config")

    def expect(self, key: str, allowed: Sequence, why: str):
        """The value of ``key``, which must be one of ``allowed``."""
        value = self[key]
        if value not in allowed:
            expected = " or ".join(repr(a) for a in allowed)
            raise ConversionError(
                f"{self.where}: {key} = {value!r} is not supported (expected {expected}): {why}"
            )
        return value

    def square(self, key: str) -> int:
        """An int, or a list of two equal ints (transformers accepts both for sizes)."""
        value = self[key]
        if isinstance(value, (list, tuple)):
            if len(value) != 2 or value[0] != value[1]:
                raise ConversionError(
                    f"{self.where}: {key} = {value!r}; this project's Swin takes one size for "
                    "both sides"
                )
            value = value[0]
        return int(value)


def stage_features(backbone: Fields, num_stages: int) -> None:
    """Checks that the backbone returns every stage (stage1..stageN), which the pixel decoders
    of both architectures take as res2..res{N+1}."""
    every = [f"stage{i + 1}" for i in range(num_stages)]
    out = backbone.data.get("out_features")
    if out is None and backbone.data.get("out_indices") is not None:
        out = [f"stage{i}" for i in backbone.data["out_indices"]]
    if list(out or []) != every:
        raise ConversionError(
            f"{backbone.where}: out_features = {out!r}; expected every stage {every} (the pixel "
            "decoder reads res2..res5)"
        )
