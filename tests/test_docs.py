"""The user-facing documents: relative links and pictures point at files of the repository,
and the README keeps its quick start on top and shows the demo example and the export round
trip."""

import os
import re
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = [
    "README.md",
    "docs/demo.md",
    "docs/export.md",
    "docs/evaluation.md",
    "docs/analysis.md",
    "docs/video.md",
    "docs/custom_data.md",
    "docs/inference.md",
    "docs/architecture.md",
    "docs/weights.md",
    "docs/performance.md",
    "MODEL_ZOO.md",
    "ops/README.md",
]
# [text](target) and ![alt](target); the target up to a space (a title) or ")"
LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def links(document: str):
    with open(os.path.join(REPO, document), encoding="utf-8") as f:
        text = f.read()
    return [(bang == "!", target) for bang, target in LINK.findall(text)]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_relative_links_resolve(document):
    folder = os.path.dirname(os.path.join(REPO, document))
    broken = []
    for _, target in links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URLs and anchors
        path = os.path.normpath(os.path.join(folder, target.split("#")[0]))
        if not os.path.exists(path):
            broken.append(f"{target} (looked for {os.path.relpath(path, REPO)})")
    assert not broken, f"{document}: links to missing files: {broken}"


def _readme():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_starts_with_the_two_commands():
    first_block = _readme().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "quickstart"], ["make", "test"]]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def test_readme_shows_the_demo_on_a_real_photograph():
    section = _section(_readme(), "Demo")
    assert "demo/demo.py" in section and "skimage.data" in section and "coffee.png" in section
    pictures = [target for is_image, target in links("README.md") if is_image]
    assert "docs/images/demo_coffee.jpg" in pictures
    assert "docs/images/demo_coffee.jpg" in section
    assert "(docs/demo.md)" in section


def test_readme_shows_the_export_round_trip():
    section = _section(_readme(), "Export")
    assert "tools/export_model.py" in section and "--format onnx" in section
    assert "ExportedPredictor(" in section  # the way back: run the file, get the model's outputs
    assert "(docs/export.md)" in section


def _python_blocks(text: str):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_model_zoo_snippet_runs_outside_the_checkout(tmp_path):
    """The README's Python examples of configs by name, run from a folder that is not the
    checkout (as an installed package would be used)."""
    snippets = [b for b in _python_blocks(_readme()) if "model_zoo" in b and "Predictor" not in b]
    assert len(snippets) == 2  # model_zoo.get_config, and get_cfg + merge_config
    env = dict(os.environ, PYTHONPATH=REPO)
    results = [
        subprocess.run(
            [sys.executable, "-c", s],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        for s in snippets
    ]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    printed = results[0].stdout.splitlines()
    assert printed[0] == os.path.join(REPO, "configs", "ade20k", "swin_L.yaml")
    assert printed[1].startswith(
        "https://dl.fbaipublicfiles.com/maskformer/mask2former/ade20k/semantic/"
    )


def test_readme_predictor_snippet(tmp_path, monkeypatch):
    """The README's predictor example, with the tiny panoptic model's saved weights in place of
    the published checkpoint (no download here) and generated images."""
    import cv2
    import numpy as np

    from helpers.configs import load_cfg, tiny_config_file
    from mask2former import model_zoo
    from mask2former.engine.predictor import MaskFormerPredictor

    (snippet,) = [b for b in _python_blocks(_readme()) if "MaskFormerPredictor" in b]
    tiny = load_cfg(tiny_config_file("panoptic"))
    weights = tmp_path / "weights.pth"
    torch.save(
        {"model": MaskFormerPredictor(tiny, random_weights=True).model.state_dict()}, weights
    )
    asked = []

    def tiny_trained_config(name, trained=False):
        asked.append((name, trained))
        cfg = tiny.clone()
        cfg.MODEL.WEIGHTS = str(weights)
        return cfg

    monkeypatch.setattr(model_zoo, "get_config", tiny_trained_config)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("img.jpg", "a.jpg", "b.jpg"):
        cv2.imwrite(name, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    namespace = {}
    exec(snippet, namespace)
    assert asked == [("coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml", True)]
    assert namespace["panoptic_seg"].shape == (48, 64)
    assert isinstance(namespace["segments_info"], list)
    assert len(namespace["many"]) == 2 and all("panoptic_seg" in o for o in namespace["many"])


@pytest.mark.parametrize(
    "document", ["README.md", "docs/demo.md", "docs/export.md", "docs/custom_data.md"]
)
def test_config_files_in_commands_exist(document):
    """Every `--config-file X` of a document's commands names a file of the checkout, a
    shipped config, or a file the document shows (a YAML block headed ``# X``)."""
    from mask2former.model_zoo import resolve_config_file

    with open(os.path.join(REPO, document), encoding="utf-8") as f:
        text = f.read()
    names = set(re.findall(r"--config-file[ `]+([\w./-]+\.yaml)", text))
    names -= set(
        re.findall(r"```yaml\n# ([\w./-]+\.yaml)", text)
    )  # a user's file the document writes
    assert names or document != "README.md"
    for name in names:
        if not os.path.isfile(os.path.join(REPO, name)):  # a path of the checkout, or a name
            resolve_config_file(name)
