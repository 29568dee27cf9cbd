"""Config values and files that cannot work are refused by merge_config (through which every
entry point reads its config) before any work starts, one line naming the key or the file."""

import re

import pytest
from detectron2.config import get_cfg

from helpers.paths import REPO
from mask2former import add_maskformer2_config
from mask2former.config import ConfigFileError, ConfigValueError, merge_config
from mask2former.errors import UserError

QUICKSTART = REPO / "configs/quickstart/semantic.yaml"


def _merge(path, opts=()):
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return merge_config(cfg, str(path), list(opts))


def _refusal(path, error=ConfigValueError) -> str:
    """The message of the ``error`` with which merging the config file ``path`` is refused."""
    with pytest.raises(error) as info:
        _merge(path)
    return str(info.value)


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("MODEL.MASK_FORMER.NUM_OBJECT_QUERIES", "0", "an integer >= 1"),
        ("MODEL.MASK_FORMER.HIDDEN_DIM", "0", "an integer >= 1"),
        ("MODEL.MASK_FORMER.HIDDEN_DIM", "250", "a multiple of MODEL.MASK_FORMER.NHEADS (4)"),
        ("MODEL.MASK_FORMER.NHEADS", "0", "an integer >= 1"),
        ("MODEL.MASK_FORMER.DEC_LAYERS", "0", "an integer >= 1"),
        ("MODEL.SEM_SEG_HEAD.NUM_CLASSES", "0", "an integer >= 1"),
        ("INPUT.CROP.SIZE", "[-64, 64]", "two positive numbers"),
        ("INPUT.CROP.SIZE", "[64]", "two positive numbers"),
        ("INPUT.MIN_SIZE_TEST", "-1", "an integer >= 0"),
        ("INPUT.MAX_SIZE_TEST", "0", "an integer >= 1"),
        ("INPUT.MIN_SIZE_TRAIN", "(256, -1)", "an integer >= 0 or a non-empty list of them"),
        ("INPUT.MAX_SIZE_TRAIN", "-2048", "an integer >= 1"),
        ("INPUT.IMAGE_SIZE", "0", "an integer >= 1"),
        ("SOLVER.MAX_ITER", "-5", "an integer >= 1"),
        ("SOLVER.MAX_ITER", "0", "an integer >= 1"),
        ("SOLVER.IMS_PER_BATCH", "0", "an integer >= 1"),
        ("SOLVER.CHECKPOINT_PERIOD", "0", "an integer >= 1"),
        ("TEST.EVAL_PERIOD", "-1", "an integer >= 0"),
    ],
)
def test_values_that_cannot_work_name_the_key(key, value, expected):
    with pytest.raises(ConfigValueError) as info:
        _merge(QUICKSTART, [key, value])
    message = str(info.value)
    assert message.startswith(f"{key} = ")
    assert f"(on the command line) must be {expected}." in message
    assert isinstance(info.value, (UserError, ValueError)) and "\n" not in message


def test_crop_size_must_suit_the_crop_type():
    with pytest.raises(
        ConfigValueError, match=r"INPUT.CROP.SIZE = \[0.5, 2.0\].*fractions in \(0, 1\]"
    ):
        _merge(
            QUICKSTART,
            [
                "INPUT.CROP.ENABLED",
                "True",
                "INPUT.CROP.TYPE",
                "relative_range",
                "INPUT.CROP.SIZE",
                "[0.5, 2.0]",
            ],
        )
    with pytest.raises(ConfigValueError, match=r"INPUT.CROP.SIZE .*integers >= 1 \(pixels\)"):
        _merge(
            QUICKSTART,
            [
                "INPUT.CROP.ENABLED",
                "True",
                "INPUT.CROP.TYPE",
                "absolute",
                "INPUT.CROP.SIZE",
                "[0.5, 0.5]",
            ],
        )
    with pytest.raises(ConfigValueError, match=r"INPUT.CROP.TYPE = 'abs'"):
        _merge(QUICKSTART, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "abs"])
    cfg = _merge(QUICKSTART, ["INPUT.CROP.ENABLED", "False", "INPUT.CROP.TYPE", "abs"])
    assert cfg.INPUT.CROP.TYPE == "abs"  # unused while cropping is off


def test_a_value_set_in_a_file_names_the_file(tmp_path):
    (tmp_path / "base.yaml").write_text(f"_BASE_: {QUICKSTART}\nSOLVER:\n  MAX_ITER: -5\n")
    user = tmp_path / "user.yaml"
    user.write_text("_BASE_: base.yaml\nSOLVER:\n  BASE_LR: 0.01\n")
    assert re.match(rf"SOLVER.MAX_ITER = -5 \(in {tmp_path / 'base.yaml'}\)", _refusal(user))


def test_the_file_named_is_the_one_whose_value_counts(tmp_path):
    """A later _BASE_ overrides an earlier one, the including file overrides both."""
    (tmp_path / "a.yaml").write_text(f"_BASE_: {QUICKSTART}\nSOLVER:\n  MAX_ITER: 7\n")
    (tmp_path / "b.yaml").write_text("SOLVER:\n  MAX_ITER: -5\n")
    user = tmp_path / "user.yaml"
    user.write_text("_BASE_: [a.yaml, b.yaml]\n")
    assert re.match(rf"SOLVER.MAX_ITER = -5 \(in {tmp_path / 'b.yaml'}\)", _refusal(user))
    user.write_text("_BASE_: [b.yaml, a.yaml]\n")
    assert _merge(user).SOLVER.MAX_ITER == 7
    user.write_text("_BASE_: [a.yaml, b.yaml]\nSOLVER:\n  MAX_ITER: 0\n")
    assert re.match(rf"SOLVER.MAX_ITER = 0 \(in {user}\)", _refusal(user))


def test_train_net_refuses_before_training(tmp_path):
    """MAX_ITER -5 used to train nothing and exit 0; a negative MIN_SIZE_TEST failed only
    after training."""
    from detectron2.engine import default_argument_parser

    from mask2former.commands import train_net

    for key, value in [("SOLVER.MAX_ITER", "-5"), ("INPUT.MIN_SIZE_TEST", "-1")]:
        args = default_argument_parser().parse_args(
            ["--config-file", str(QUICKSTART), key, value, "OUTPUT_DIR", str(tmp_path / "out")]
        )
        with pytest.raises(ConfigValueError, match=key):
            train_net.main(args)
    assert not (tmp_path / "out").exists()  # nothing was set up, let alone trained


@pytest.mark.parametrize(
    "content,expected",
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- MODEL\n- SOLVER\n", "the top level is a list"),
        ("just a string\n", "the top level is a str"),
        ("_BASE_: 3\n", "_BASE_ must be a file name or a list of file names, got 3"),
        ("_BASE_: missing.yaml\n", "_BASE_ file missing.yaml not found"),
    ],
)
def test_files_that_are_no_config_name_the_file(tmp_path, content, expected):
    path = tmp_path / "user.yaml"
    path.write_text(content)
    assert _refusal(path, ConfigFileError).startswith(f"{path}: {expected}")


def test_base_loop_names_the_chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: [sub/c.yaml]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("_BASE_: ../a.yaml\n")
    message = _refusal("a.yaml", ConfigFileError)
    assert message == "sub/c.yaml: _BASE_ loop: a.yaml -> b.yaml -> sub/c.yaml -> a.yaml"
    (tmp_path / "self.yaml").write_text("_BASE_: self.yaml\n")
    assert re.search("_BASE_ loop: self.yaml -> self.yaml", _refusal("self.yaml", ConfigFileError))


def test_a_mapping_over_a_value_names_the_file(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER: 3\n")
    user = tmp_path / "user.yaml"
    user.write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 4\n")
    message = _refusal(user, ConfigFileError)
    assert re.match(rf"{user}: SOLVER is a mapping here but a single value", message)
