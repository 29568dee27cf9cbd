"""mask2former.model_zoo: every shipped config by name, from any folder and from a built
package; the published checkpoints of both model zoos."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from mask2former import model_zoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")


def shipped_files(root):
    """Every .yaml under ``root``, as names relative to it (found without model_zoo)."""
    names = []
    for folder, _, files in os.walk(root):
        names += [
            os.path.relpath(os.path.join(folder, f), root) for f in files if f.endswith(".yaml")
        ]
    return sorted(names)


def test_every_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = shipped_files(CONFIGS)
    assert len(names) > 100 and model_zoo.list_configs() == names
    for name in names:
        path = os.path.join(CONFIGS, name)
        assert model_zoo.get_config_file(name) == path
        assert model_zoo.resolve_config_file(name) == path
        assert model_zoo.resolve_config_file("configs/" + name) == path  # the README's spelling
        assert model_zoo.config_name(path) == name


def test_an_existing_file_wins_over_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ade20k").mkdir()
    (tmp_path / "ade20k" / "R50.yaml").write_text("_BASE_: x.yaml\n")
    assert model_zoo.resolve_config_file("ade20k/R50.yaml") == "ade20k/R50.yaml"
    assert model_zoo.config_name("ade20k/R50.yaml") is None


def test_unknown_names_suggest_close_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(model_zoo.ConfigFileNotFoundError, match="did you mean ade20k/swin_L.yaml"):
        model_zoo.get_config_file("ade20k/swin_l.yaml")
    with pytest.raises(FileNotFoundError) as error:
        model_zoo.resolve_config_file("coco/panoptic-segmentation/maskformer2_R50_bs16_50.yaml")
    message = str(error.value)
    assert f"relative to {tmp_path}" in message and f"under {CONFIGS}" in message
    assert "did you mean coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml" in message
    assert "\n" not in message
    # a bare file name: the configs of that name in any folder
    with pytest.raises(
        FileNotFoundError,
        match="did you mean .*ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml",
    ):
        model_zoo.get_config_file("maskformer2_R50_bs16_160k.yaml")


# Facts copied by hand from the two MODEL_ZOO.md pages, independent of checkpoints.json
PUBLISHED = {
    "coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml": (
        "https://dl.fbaipublicfiles.com/maskformer/mask2former/coco/panoptic/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl",
        {"PQ": 51.9, "AP": 41.7, "mIoU": 61.7},
    ),
    "ade20k/semantic-segmentation/swin/maskformer2_swin_large_IN21k_384_bs16_160k_res640.yaml": (
        "https://dl.fbaipublicfiles.com/maskformer/mask2former/ade20k/semantic/maskformer2_swin_large_IN21k_384_bs16_160k_res640/model_final_6b4a3a.pkl",
        {"mIoU": 56.1, "mIoU (ms+flip)": 57.3},
    ),
    "maskformer/ade20k-150/maskformer_R50_bs16_160k.yaml": (
        "https://dl.fbaipublicfiles.com/maskformer/semantic-ade20k/maskformer_R50_bs16_160k/model_final_d8dbeb.pkl",
        {"mIoU": 44.5, "mIoU (ms+flip)": 46.7},
    ),
    "maskformer/coco-panoptic/maskformer_panoptic_R50_bs64_554k.yaml": (
        "https://dl.fbaipublicfiles.com/maskformer/panoptic-coco/maskformer_panoptic_R50_bs64_554k/model_final_6f60dc.pkl",
        {"PQ": 46.5},
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_checkpoints(name):
    url, metrics = PUBLISHED[name]
    assert model_zoo.get_checkpoint_url(name) == url
    assert model_zoo.get_checkpoint(name)["metrics"] == metrics


def test_every_model_config_of_both_releases_has_its_checkpoint():
    table = model_zoo.checkpoint_table()
    names = shipped_files(CONFIGS)
    models = [
        n
        for n in names
        if not os.path.basename(n).startswith("Base-") and not n.startswith("quickstart/")
    ]
    for name in models:
        entry = model_zoo.get_checkpoint(name)
        assert entry is not None, name
        config = entry["config"]
        release = "MaskFormer" if config.startswith("maskformer/") else "Mask2Former"
        assert entry["release"] == release, name
        assert re.fullmatch(
            r"https://dl\.fbaipublicfiles\.com/maskformer/.+/model_final_[0-9a-f]{6}\.pkl",
            entry["url"],
        )
        assert (
            entry["metrics"]
            and entry["backbone"]
            and entry["task"] in ("semantic", "panoptic", "instance", "video instance")
        )
        if name != config:  # a short name: its file is one _BASE_ line naming that config
            with open(os.path.join(CONFIGS, name)) as f:
                base = yaml.safe_load(f)["_BASE_"]
            assert os.path.normpath(os.path.join(os.path.dirname(name), base)) == config
    assert set(table) <= set(models)
    assert len({e["url"] for e in table.values()}) == len(table)  # one checkpoint per config


def test_configs_without_checkpoint():
    assert model_zoo.get_checkpoint("quickstart/semantic.yaml") is None
    with pytest.raises(
        model_zoo.NoPublishedCheckpointError,
        match="quickstart/semantic.yaml: no published checkpoint",
    ):
        model_zoo.get_checkpoint_url("quickstart/semantic.yaml")


def test_get_config_trained_and_not():
    name = "ade20k/swin_L.yaml"
    cfg = model_zoo.get_config(name)
    assert cfg.MODEL.WEIGHTS == "swin_large_patch4_window12_384_22k.pkl"  # the ImageNet backbone
    assert cfg.MODEL.SWIN.EMBED_DIM == 192 and cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES == 150
    assert model_zoo.get_config(name, trained=True).MODEL.WEIGHTS == model_zoo.get_checkpoint_url(
        name
    )


@pytest.mark.slow
def test_built_package_ships_every_config(tmp_path):
    """What a wheel holds: setup.py's build_py copies configs/ into the package (as
    mask2former/model_zoo/configs/) with checkpoints.json. Imported from the build, from another
    folder, the lookup finds them there and their relative _BASE_ files resolve."""
    build = tmp_path / "build"
    env = dict(os.environ, MASK2FORMER_CPU_ONLY="1")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=REPO, env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    packaged = build / "mask2former" / "model_zoo" / "configs"
    assert shipped_files(packaged) == shipped_files(CONFIGS)
    for name in shipped_files(CONFIGS):
        assert (packaged / name).read_bytes() == open(os.path.join(CONFIGS, name), "rb").read(), (
            name
        )
    assert (build / "mask2former" / "model_zoo" / "checkpoints.json").is_file()

    probe = (
        "import json\n"
        "from mask2former import model_zoo\n"
        "names = model_zoo.list_configs()\n"
        "cfgs = {n: model_zoo.get_config(n, trained=True) for n in ('ade20k/swin_L.yaml', "
        "'maskformer/coco-panoptic/swin/maskformer_panoptic_swin_tiny_bs64_554k.yaml')}\n"
        "print(json.dumps({'root': model_zoo.configs_root(), 'count': len(names), "
        "'weights': {n: c.MODEL.WEIGHTS for n, c in cfgs.items()}, "
        "'classes': {n: c.MODEL.SEM_SEG_HEAD.NUM_CLASSES for n, c in cfgs.items()}}))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(build)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found["root"] == str(packaged) and found["count"] == len(shipped_files(CONFIGS))
    assert found["classes"] == {"ade20k/swin_L.yaml": 150,
                                "maskformer/coco-panoptic/swin/maskformer_panoptic_swin_tiny_bs64_554k.yaml": 133}  # fmt: skip
    for name, weights in found["weights"].items():
        assert weights == model_zoo.get_checkpoint_url(name)
