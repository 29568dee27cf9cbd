"""Where the repository, its configs and the tests' own files are."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
QUICKSTART_CONFIGS = CONFIGS / "quickstart"
TESTS = REPO / "tests"
TINY_CONFIGS = TESTS / "configs"
