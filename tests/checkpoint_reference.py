"""Reads ../shared/reference/checkpoint-keys/: the state_dict names, shapes and parameter counts of
the published MaskFormer and Mask2Former releases, one file per config."""
import os
from pathlib import Path
from typing import Dict, List, Tuple

REFERENCE_DIR = Path(
    os.environ.get(
        "MASK2FORMER_REFERENCE_KEYS",
        Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "checkpoint-keys",
    )
)


def load_reference(path) -> Tuple[str, int, Dict[str, Tuple[int, ...]]]:
    """Returns (config path as named in the file, parameter count, {name: shape})."""
    config, count, shapes = None, None, {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("# config:"):
            config = line.split(":", 1)[1].strip()
        elif line.startswith("# parameters:"):
            count = int(line.split(":", 1)[1])
        elif line.strip() and not line.startswith("#"):
            name, shape = line.split("\t")
            shapes[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    if config is None or count is None:
        raise ValueError(f"{path}: missing '# config:' or '# parameters:' header")
    return config, count, shapes


def reference_files(release: str) -> List[Path]:
    """All reference files of a release ("mask2former" or "maskformer")."""
    return sorted((REFERENCE_DIR / release).glob("*.txt"))


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
