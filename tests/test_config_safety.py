"""Config files are read without running code (mask2former.config.loader): Python tags are
refused with the file and line, in the given file and in its _BASE_ files, and through the
entry points; the published releases' `!!python/object/apply:eval` idiom is computed by an
AST whitelist (mask2former.config.expression) to the values Python gives; every config under
configs/ loads with exactly the values of Detectron2's own loader."""

import os
from pathlib import Path

import pytest
from detectron2.config import get_cfg

from helpers.paths import CONFIGS, TINY_CONFIGS
from mask2former import add_maskformer2_config
from mask2former.config import ConfigFileError, merge_config
from mask2former.config.expression import ExpressionError, evaluate_expression
from mask2former.config.loader import read_config_file
from mask2former.video import add_video_model_config

RELEASE_ROOTS = {"mask2former": CONFIGS, "maskformer": CONFIGS / "maskformer"}

# Every `!!python/object/apply:eval` line of the two releases' configs/ (Mask2Former at
# 9b0651c, MaskFormer at da3e60d): (release, path under configs/, the quoted expression).
# Our copies of these files hold the expanded lists.
PUBLISHED_EVAL_LINES = [
    (
        "mask2former",
        "ade20k/instance-segmentation/Base-ADE20K-InstanceSegmentation.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "ade20k/panoptic-segmentation/Base-ADE20K-PanopticSegmentation.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "ade20k/semantic-segmentation/Base-ADE20K-SemanticSegmentation.yaml",
        "[int(x * 0.1 * 512) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "ade20k/semantic-segmentation/swin/maskformer2_swin_base_384_bs16_160k_res640.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "ade20k/semantic-segmentation/swin/maskformer2_swin_base_IN21k_384_bs16_160k_res640.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "ade20k/semantic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_160k_res640.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "cityscapes/instance-segmentation/Base-Cityscapes-InstanceSegmentation.yaml",
        "[int(x * 0.1 * 1024) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "cityscapes/panoptic-segmentation/Base-Cityscapes-PanopticSegmentation.yaml",
        "[int(x * 0.1 * 1024) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "cityscapes/semantic-segmentation/Base-Cityscapes-SemanticSegmentation.yaml",
        "[int(x * 0.1 * 1024) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "mapillary-vistas/panoptic-segmentation/Base-MapillaryVistas-PanopticSegmentation.yaml",
        "[int(x * 0.1 * 2048) for x in range(5, 21)]",
    ),
    (
        "mask2former",
        "mapillary-vistas/semantic-segmentation/Base-MapillaryVistas-SemanticSegmentation.yaml",
        "[int(x * 0.1 * 2048) for x in range(5, 21)]",
    ),
    (
        "maskformer",
        "ade20k-150-panoptic/maskformer_panoptic_R50_bs16_720k.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    ("maskformer", "ade20k-150/Base-ADE20K-150.yaml", "[int(x * 0.1 * 512) for x in range(5, 21)]"),
    (
        "maskformer",
        "ade20k-150/swin/maskformer_swin_base_IN21k_384_bs16_160k_res640.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "maskformer",
        "ade20k-150/swin/maskformer_swin_large_IN21k_384_bs16_160k_res640.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 21)]",
    ),
    (
        "maskformer",
        "ade20k-full-847/Base-ADE20KFull-847.yaml",
        "[int(x * 0.1 * 512) for x in range(5, 21)]",
    ),
    (
        "maskformer",
        "cityscapes-19/Base-Cityscapes-19.yaml",
        "[int(x * 0.1 * 1024) for x in range(5, 21)]",
    ),
    (
        "maskformer",
        "coco-stuff-10k-171/Base-COCOStuff10K-171.yaml",
        "[int(x * 0.1 * 640) for x in range(5, 16)]",
    ),
    (
        "maskformer",
        "mapillary-vistas-65/Base-MapillaryVistas-65.yaml",
        "[int(x * 0.1 * 2048) for x in range(5, 21)]",
    ),
]


def _published_id(item):
    release, path, _ = item
    return f"{release}/{path}"


def _tag(expression: str) -> str:
    return f'!!python/object/apply:eval ["{expression}"]'


def _cfg():
    cfg = get_cfg()
    add_maskformer2_config(cfg)
    return cfg


def _merge(path, opts=()):
    return merge_config(_cfg(), str(path), opts)


# ---- the published idiom ----


@pytest.mark.parametrize(
    "release,path,expression",
    PUBLISHED_EVAL_LINES,
    ids=[_published_id(i) for i in PUBLISHED_EVAL_LINES],
)
def test_published_eval_lines_give_pythons_values(release, path, expression, tmp_path):
    value = evaluate_expression(expression)
    assert value == eval(expression)  # Python itself as the reference (the test's own string)
    ours = RELEASE_ROOTS[release] / path
    assert read_config_file(str(ours))["INPUT"]["MIN_SIZE_TRAIN"] == value

    # the published line, in a file on top of our copy, loads end to end to the same config
    published = tmp_path / "published.yaml"
    published.write_text(f"_BASE_: {ours}\nINPUT:\n  MIN_SIZE_TRAIN: {_tag(expression)}\n")
    assert _merge(published) == _merge(ours)


@pytest.mark.parametrize(
    "expression",
    [
        "[int(x * 0.1 * 512) for x in range(5, 21)]",
        "(1, 2.5, -3, 'a', None, True)",
        "[x * y for x in range(3) for y in range(1, 3)]",
        "7 // 2 + 7 % 3 - 1 / 4 + +2",
        "[int(x / 3) for x in [1.5, 7, -8]]",
        "[v for v in range(9, 2, -3)]",
    ],
)
def test_allowed_expressions_equal_python(expression):
    assert evaluate_expression(expression) == eval(expression)


@pytest.mark.parametrize(
    "expression,reason",
    [
        ("__import__('os').system('true')", "calling __import__"),
        ("os.system('true')", "calling os.system"),
        ("eval('1')", "calling eval"),
        ("exec('1')", "calling exec"),
        ("(1).__class__", "attribute access"),
        ("int.__subclasses__", "attribute access"),
        ("(lambda: 1)()", "calling lambda"),
        ("[c for c in ().__class__.__base__.__subclasses__()]", "calling"),
        ("[c for c in ().__class__.__bases__]", "attribute access"),
        ("[1, 2][0]", "subscripts"),
        ("x", "name 'x'"),
        ("open", "name 'open'"),
        ("{'a': 1}", "dicts"),
        ("9 ** 9 ** 9", "the ** operator"),
        ("[0] * 10000000000", "arithmetic takes numbers only"),
        ("'a' * 10000000000", "arithmetic takes numbers only"),
        ("range(10000000000)", "range of 10000000000 numbers"),
        ("[x for x in range(100000) for y in range(100000)]", "more than 100000"),
        ("99999999999 * 99999999999 * 99999999999", "beyond 64 bits"),
        ("int('5')", "int() takes numbers only"),
        ("int(1e400)", "int(inf)"),
        ("1 / 0", "division by zero"),
        ("range(5)", "not a config value"),
        ("[x for x in range(3) if x]", "'if'"),
        ("(y := 3)", "assignment expressions"),
        ("f'{1}'", "f-strings"),
        ("1 +", "not a Python expression"),
        ("1" + " + 1" * 600, "characters"),
    ],
)
def test_other_expressions_are_refused(expression, reason):
    with pytest.raises(ExpressionError) as info:
        evaluate_expression(expression)
    assert reason in str(info.value)


# ---- Python tags: refused, nothing runs ----

PAYLOADS = [
    # tag and arguments that would create MARKER; the second returns a valid string value
    '!!python/object/apply:os.system ["touch MARKER"]',
    '!!python/object/apply:subprocess.getoutput ["touch MARKER; echo output"]',
    '!!python/object/new:subprocess.Popen [["touch", "MARKER"]]',
    "!!python/object/apply:builtins.exec [\"open('MARKER', 'w').close()\"]",
    "!!python/object/apply:eval [\"__import__('os').system('touch MARKER')\"]",
    "!!python/object/apply:eval [\"[__import__('os').system('touch MARKER') for x in range(1)]\"]",
    "!!python/name:os.system",
]


def _write_payload(path: Path, payload: str, marker: Path, base: str = "") -> int:
    """Writes a config whose OUTPUT_DIR is ``payload``; returns the payload's line number."""
    lines = [f"_BASE_: {base}"] if base else []
    lines += ["SOLVER:", "  MAX_ITER: 10", f"OUTPUT_DIR: {payload.replace('MARKER', str(marker))}"]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("where", ["given file", "_BASE_ file", "_BASE_ of a _BASE_"])
def test_python_tags_are_refused_with_file_and_line(payload, where, tmp_path):
    marker = tmp_path / "created_by_the_config"
    evil = tmp_path / "evil.yaml"
    line = _write_payload(evil, payload, marker, base=str(CONFIGS / "quickstart/semantic.yaml"))
    given = evil
    if where != "given file":
        (tmp_path / "sub").mkdir()
        given = tmp_path / "sub" / "user.yaml"
        given.write_text("_BASE_: ../evil.yaml\nSOLVER:\n  BASE_LR: 0.5\n")
        if where == "_BASE_ of a _BASE_":
            top = tmp_path / "top.yaml"
            top.write_text("_BASE_: sub/user.yaml\n")
            given = top
    with pytest.raises(ConfigFileError) as info:
        _merge(given)
    message = str(info.value)
    assert message.startswith(f"{evil}:{line}: ")
    assert "\n" not in message
    assert not marker.exists()


def test_entry_point_setup_refuses_a_payload(tmp_path):
    """train_net.py reads its config through merge_config (as demo.py and the tools do)."""
    from detectron2.engine import default_argument_parser

    from mask2former.commands import train_net

    marker = tmp_path / "created_by_the_config"
    evil = tmp_path / "evil.yaml"
    _write_payload(evil, PAYLOADS[1], marker, base=str(CONFIGS / "quickstart/semantic.yaml"))
    args = default_argument_parser().parse_args(["--config-file", str(evil)])
    with pytest.raises(ConfigFileError, match="Python tag !!python/object/apply:subprocess"):
        train_net.setup(args)
    assert not marker.exists()


def test_yaml_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  WEIGHTS: [unclosed\nSOLVER: {}\n")
    with pytest.raises(ConfigFileError, match=rf"^{bad}:\d+: not valid YAML"):
        _merge(bad)
    custom = tmp_path / "custom.yaml"
    custom.write_text("OUTPUT_DIR: !custom_tag x\n")
    with pytest.raises(ConfigFileError, match=rf"^{custom}:1: not valid YAML"):
        _merge(custom)


# ---- everything published still loads, with Detectron2's values ----

ALL_CONFIG_FILES = sorted(CONFIGS.rglob("*.yaml")) + sorted(TINY_CONFIGS.glob("*.yaml"))


def test_every_config_loads_with_detectron2s_values():
    assert len(ALL_CONFIG_FILES) > 100
    for path in ALL_CONFIG_FILES:
        # the video configs use the video keys as well (train_net_video.py adds them)
        video = "youtubevis" in str(path) or path.name == "video.yaml"
        add_keys = add_video_model_config if video else add_maskformer2_config
        expected = get_cfg()
        add_keys(expected)
        expected.merge_from_file(str(path))
        cfg = get_cfg()
        add_keys(cfg)
        assert merge_config(cfg, str(path)) == expected, path


def test_old_config_versions_are_upgraded_like_detectron2(tmp_path):
    old = tmp_path / "v1.yaml"
    old.write_text("VERSION: 1\nMODEL:\n  RPN:\n    HEAD_NAME: MyHead\nSOLVER:\n  MAX_ITER: 7\n")
    expected = _cfg()
    expected.merge_from_file(str(old))
    assert _merge(old) == expected
    assert expected.MODEL.RPN.HEAD_NAME == "MyHead" and expected.SOLVER.MAX_ITER == 7


def test_relative_bases_resolve_against_the_including_file(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.25\n  MAX_ITER: 3\n")
    (tmp_path / "a" / "b" / "mid.yaml").write_text(
        "_BASE_: [../base.yaml]\nSOLVER:\n  MAX_ITER: 4\n"
    )
    top = tmp_path / "a" / "b" / "top.yaml"
    top.write_text("_BASE_: mid.yaml\nOUTPUT_DIR: out\n")
    monkeypatch.chdir(tmp_path)
    cfg = _merge(os.path.relpath(top))
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER, cfg.OUTPUT_DIR) == (0.25, 4, "out")
    expected = _cfg()
    expected.merge_from_file(str(top))
    assert cfg == expected


def test_bases_of_a_url_config_stay_urls():
    from mask2former.config.loader import _resolve_base

    assert (
        _resolve_base("../b.yaml", "https://example.org/cfg/x/a.yaml")
        == "https://example.org/cfg/x/../b.yaml"
    )
    assert _resolve_base("/abs/b.yaml", "https://example.org/a.yaml") == "/abs/b.yaml"
    assert _resolve_base("b.yaml", "cfg/x/../a.yaml") == "cfg/b.yaml"
