"""MODEL_ZOO.md, written from ``checkpoints.json``: one table per release and dataset."""

import os
from itertools import groupby
from typing import Iterable, List

from .checkpoints import checkpoint_table

__all__ = ["model_zoo_markdown", "referenced_configs"]

# where each release's configs live under configs/, for the key-reference folders of the tests
_RELEASE_PREFIXES = {"mask2former": "", "mask2former-video": "", "maskformer": "maskformer/"}
_REFERENCE_SUFFIX = ".txt.gz"

_INTRO = """\
# Model zoo

Every trained checkpoint of the two published model zoos (the MaskFormer and Mask2Former
releases of facebookresearch, video models included), with the config of this repository that
builds its model. The weights stay where their authors published them; this page is written from
`mask2former/model_zoo/checkpoints.json` by `python tools/write_model_zoo.py` (a test checks that
the two agree).

"Layout" is checked (✓) when `tests/test_configs.py` builds the config here and compares the
model's state_dict names and shapes with those of the published checkpoint
(`tests/data/checkpoint_keys/`): the checkpoint then loads with nothing missing or unexpected.

## Loading a checkpoint

Give a config without weights and the published ones are downloaded once and cached (Detectron2's
path handling, `~/.torch/iopath_cache` by default):

```
python demo/demo.py --config-file coco/panoptic-segmentation/maskformer2_R50_bs16_50ep.yaml --input img.jpg
python train_net.py --config-file ade20k/semantic-segmentation/maskformer2_R50_bs16_160k.yaml --eval-only
```

or name the weights (a URL from the tables or a local file) with `MODEL.WEIGHTS`. From Python:

```python
from mask2former import model_zoo

cfg = model_zoo.get_config("ade20k/swin_L.yaml", trained=True)  # MODEL.WEIGHTS = the published URL
url = model_zoo.get_checkpoint_url("ade20k/swin_L.yaml")
```

Config names are paths under `configs/`; the MaskFormer release's configs are under
`configs/maskformer/`. Metrics are the published ones (their authors' measurements).
"""


def referenced_configs(reference_dir: str) -> List[str]:
    """The config names that have a state-dict key reference in ``reference_dir`` (the tests'
    ``data/checkpoint_keys``: one folder per release, files named after the config's path with
    "/" written "__")."""
    names = []
    for release, prefix in _RELEASE_PREFIXES.items():
        for file_name in sorted(os.listdir(os.path.join(reference_dir, release))):
            if file_name.endswith(_REFERENCE_SUFFIX):
                stem = file_name[: -len(_REFERENCE_SUFFIX)]
                names.append(prefix + stem.replace("__", "/") + ".yaml")
    return names


def _metrics(metrics: dict) -> str:
    return ", ".join(f"{name} {value}" for name, value in metrics.items())


def _row(config: str, entry: dict, verified: bool) -> str:
    cells = [
        f"`{config}`",
        entry["task"],
        entry["backbone"],
        entry["schedule"],
        _metrics(entry["metrics"]),
        f"[model]({entry['url']})",
        "✓" if verified else "—",
    ]
    return "| " + " | ".join(cells) + " |"


def model_zoo_markdown(verified: Iterable[str]) -> str:
    """The text of MODEL_ZOO.md.

    Args:
        verified: the config names (as in ``checkpoints.json``) whose model layout the tests
            compare with the published checkpoint's.
    """
    verified = set(verified)
    table = checkpoint_table()

    def section(item):
        entry = item[1]
        release = "Mask2Former (video)" if entry["task"] == "video instance" else entry["release"]
        return release, entry["dataset"]

    lines = [_INTRO]
    for (release, dataset), items in groupby(sorted(table.items(), key=section), key=section):
        lines += [
            f"## {release}: {dataset}",
            "",
            "| config | task | backbone | schedule | published metrics | weights | layout |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [_row(config, entry, config in verified) for config, entry in items]
        lines.append("")
    return "\n".join(lines)
