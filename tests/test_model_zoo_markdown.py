"""MODEL_ZOO.md is what tools/write_model_zoo.py writes from the model zoo table and the state-dict
references, and every published checkpoint's layout is among the references."""

import os
import runpy

from helpers.paths import REPO
from mask2former.model_zoo import checkpoint_table, get_config_file
from mask2former.model_zoo.markdown import model_zoo_markdown, referenced_configs

REFERENCES = os.path.join(REPO, "tests", "data", "checkpoint_keys")
TOOL = os.path.join(REPO, "tools", "write_model_zoo.py")


def _tool_main():
    return runpy.run_path(TOOL)["main"]


def test_model_zoo_md_is_up_to_date(capsys):
    assert _tool_main()(["--check"]) == 0, capsys.readouterr().err


def test_check_detects_a_stale_page(tmp_path, capsys):
    stale = tmp_path / "MODEL_ZOO.md"
    stale.write_text(model_zoo_markdown([]), encoding="utf-8")  # no layout checked
    assert _tool_main()(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_every_published_checkpoint_has_a_config_and_a_layout_reference():
    referenced = set(referenced_configs(REFERENCES))
    for config in referenced:
        get_config_file(config)  # raises for a name that is no shipped config
    table = checkpoint_table()
    assert set(table) <= referenced
    text = model_zoo_markdown(referenced)
    for config, entry in table.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{config}` |"))
        assert entry["url"] in row and row.endswith("| ✓ |")
