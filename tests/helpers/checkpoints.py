"""Reads tests/data/checkpoint_keys/: the state_dict names, shapes and parameter counts of the
published MaskFormer and Mask2Former checkpoints, one gzip-compressed file per config (see the
README there for the format and where the facts come from)."""

import gzip
from pathlib import Path
from typing import Dict, List, Tuple

from helpers.paths import TESTS

REFERENCE_DIR = TESTS / "data" / "checkpoint_keys"
SUFFIX = ".txt.gz"
RELEASES = ("mask2former", "maskformer", "mask2former-video")


def load_reference(path) -> Tuple[str, int, Dict[str, Tuple[int, ...]]]:
    """Returns (config path as named in the file, parameter count, {name: shape}).
    ``path`` is a file, or its name relative to REFERENCE_DIR ("maskformer/<stem>.txt.gz")."""
    path = Path(path)
    if not path.is_absolute():
        path = REFERENCE_DIR / path
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint reference {path} is missing (the test data ships in git)"
        )
    config, count, shapes = None, None, {}
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith("# config:"):
                config = line.split(":", 1)[1].strip()
            elif line.startswith("# parameters:"):
                count = int(line.split(":", 1)[1])
            elif line.strip() and not line.startswith("#"):
                name, shape = line.rstrip("\n").split("\t")
                shapes[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    if config is None or count is None:
        raise ValueError(f"{path}: missing '# config:' or '# parameters:' header")
    return config, count, shapes


def reference_files(release: str) -> List[Path]:
    """All reference files of a release (one of RELEASES). Raises when there are none: a test
    that loses its data must fail, not pass on an empty parameter list."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; expected one of {RELEASES}")
    files = sorted((REFERENCE_DIR / release).glob(f"*{SUFFIX}"))
    if not files:
        raise FileNotFoundError(
            f"no checkpoint references (*{SUFFIX}) under {REFERENCE_DIR / release}: "
            "the test data ships in git with the tests"
        )
    return files


def reference_stem(path: Path) -> str:
    """The config's name of a reference file ("ade20k-150__maskformer_R50_bs16_160k")."""
    return Path(path).name[: -len(SUFFIX)]


def compare_state_dict(state_dict, reference: Dict[str, Tuple[int, ...]]) -> List[str]:
    """Human-readable differences between a model's state_dict and a reference (empty if equal)."""
    ours = {k: tuple(v.shape) for k, v in state_dict.items()}
    problems = [f"missing: {k} {reference[k]}" for k in sorted(reference.keys() - ours.keys())]
    problems += [f"unexpected: {k} {ours[k]}" for k in sorted(ours.keys() - reference.keys())]
    problems += [
        f"shape of {k}: ours {ours[k]} != reference {reference[k]}"
        for k in sorted(ours.keys() & reference.keys())
        if ours[k] != reference[k]
    ]
    return problems
