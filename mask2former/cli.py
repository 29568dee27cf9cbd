"""The conventions every command-line entry point shares.

- :func:`run_cli` runs an entry point's ``main(argv)``: a :class:`~mask2former.errors.UserError`
  becomes one line on stderr, ``<program>: error: <message>``, and exit status 2 (argparse's
  status for a bad command line). ``--debug`` on the command line or ``MASK2FORMER_DEBUG=1``
  in the environment shows the traceback instead.
- One command-line form everywhere: ``--config-file`` takes a file or the name of a shipped
  config (``ade20k/swin_L.yaml``, see :mod:`mask2former.model_zoo`); config overrides are
  ``KEY VALUE`` pairs at the end of the command, as in Detectron2's ``train_net.py``, with
  ``--opts KEY VALUE ...`` accepted as an alias; ``--dataset FILE`` names a dataset
  description (:mod:`mask2former.data.datasets.description`) to train and evaluate on
  (:func:`add_config_arguments`, :func:`config_overrides`, :func:`load_config`).
- The checks that turn a late traceback into one early line: :func:`check_device` (the rule
  for ``MODEL.DEVICE cuda`` without a GPU) and :func:`check_output_dir`.
"""

import argparse
import json
import logging
import os
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import get_cfg

from .config import add_inference_options_config, add_maskformer2_config, merge_config
from .data.datasets.description import description_overrides
from .errors import UsageError, UserError
from .model_zoo import resolve_config_file

__all__ = [
    "DEBUG_ENV",
    "CudaUnavailableError",
    "OutputNotWritableError",
    "add_config_arguments",
    "check_device",
    "check_output_dir",
    "config_overrides",
    "debug_requested",
    "load_config",
    "run_cli",
    "split_trailing_overrides",
]

DEBUG_ENV = "MASK2FORMER_DEBUG"
# a config key as written on a command line: upper-case dotted, e.g. MODEL.WEIGHTS
_CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")

logger = logging.getLogger(__name__)


class CudaUnavailableError(UserError, RuntimeError):
    """MODEL.DEVICE names a CUDA device that this machine does not have."""


class OutputNotWritableError(UserError, OSError):
    """An output folder that cannot be created or written to."""


def debug_requested(argv: Optional[List[str]] = None) -> bool:
    """Whether tracebacks were asked for: ``--debug`` in ``argv`` (``sys.argv`` when None) or
    ``MASK2FORMER_DEBUG`` set to a value other than "" or "0"."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "0") not in ("", "0")


def run_cli(main: Callable[[Optional[List[str]]], Optional[int]], argv=None, prog=None) -> int:
    """``main(argv)``'s exit status (None counts as 0); a ``UserError`` is printed as one line
    and gives 2, unless :func:`debug_requested`, which lets it propagate with its traceback."""
    prog = prog or os.path.basename(sys.argv[0]) or "mask2former"
    try:
        status = main(argv)
    except UserError as e:
        if debug_requested(argv):
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


def add_config_arguments(
    parser: argparse.ArgumentParser,
    *,
    config_file: bool = True,
    positional_overrides: bool = True,
    default_config: Optional[str] = None,
) -> argparse.ArgumentParser:
    """Add the shared arguments to ``parser``: ``--config-file`` (a file or a shipped config's
    name; required unless ``default_config``), ``--debug``, ``--dataset`` and the config
    overrides: positional ``KEY VALUE ...`` and ``--opts KEY VALUE ...`` (read them with
    :func:`config_overrides`). ``config_file`` and ``positional_overrides`` False leave out
    what the parser has already, e.g. Detectron2's ``default_argument_parser`` both."""
    if config_file:
        parser.add_argument(
            "--config-file",
            metavar="FILE",
            default=default_config,
            required=default_config is None,
            help="a config file, or the name of a shipped config (its path under configs/, "
            "e.g. coco/panoptic_R50.yaml)"
            + (f"; default: {default_config}" if default_config else ""),
        )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of errors that are reported in one line (or set {DEBUG_ENV}=1)",
    )
    parser.add_argument(
        "--dataset",
        metavar="FILE",
        help="a dataset description (docs/custom_data.md): train on its train split, evaluate "
        "on its val split; the model takes its classes",
    )
    if positional_overrides:
        parser.add_argument(
            "opts",
            nargs=argparse.REMAINDER,
            metavar="KEY VALUE",
            help="config overrides at the end of the command, e.g. MODEL.WEIGHTS model.pth",
        )
    parser.add_argument(
        "--opts",
        dest="opts_alias",
        default=[],
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="the same overrides after --opts (the published demo's form)",
    )
    return parser


def split_trailing_overrides(values: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Splits the values of a many-valued option (such as ``--input a.jpg MODEL.WEIGHTS w``,
    which argparse gives to --input whole) at the first config key (upper-case dotted, not an
    existing file): (the option's own values, the KEY VALUE overrides)."""
    for i, value in enumerate(values):
        if _CONFIG_KEY.match(value) and not os.path.exists(value):
            return list(values[:i]), list(values[i:])
    return list(values), []


def config_overrides(args: argparse.Namespace, extra: Sequence[str] = ()) -> List[str]:
    """The KEY VALUE overrides of a command line parsed with :func:`add_config_arguments`:
    those of ``--dataset`` (DATASETS.TRAIN and DATASETS.TEST), ``extra`` (see
    :func:`split_trailing_overrides`), the positional ones, then those after ``--opts``.

    Raises:
        UsageError: an option among the overrides (options go before them) or an odd count.
        DescriptionError: an invalid ``--dataset`` file.
    """
    opts = list(extra) + [
        o for o in list(args.opts or []) + list(args.opts_alias or []) if o != "--opts"
    ]
    options = [o for o in opts if o.startswith("--")]
    if options:
        raise UsageError(
            f"{options[0]} comes after the config overrides: give the options first and the "
            "KEY VALUE pairs (or --opts KEY VALUE ...) last"
        )
    if len(opts) % 2:
        raise UsageError(
            f"config overrides come in KEY VALUE pairs, got {len(opts)} words: {' '.join(opts)}"
        )
    dataset = getattr(args, "dataset", None)
    return (description_overrides(dataset) if dataset else []) + opts


def size_sweep_parser(doc: str) -> argparse.ArgumentParser:
    """The parser of a benchmark script (``doc`` its module docstring) that measures every
    (mode, size) in a fresh process: ``--sizes``, ``--device``, ``--threads``, the config
    arguments and the internal ``--child MODE SIZE`` (see :func:`run_size_sweep`). Add the
    script's own options, then parse with :func:`parse_size_sweep_args`."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    # internal: one measurement in this process, printed as JSON
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return add_config_arguments(parser)


def parse_size_sweep_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parses ``argv`` with :func:`size_sweep_parser`'s ``parser``; in a child process (see
    :func:`size_sweep_child`) also applies ``--threads`` and sets ``args.mode``, ``args.size``
    and ``args.cfg`` (the config with its overrides)."""
    args = parser.parse_args(argv)
    args.opts = config_overrides(args)
    if args.child:
        if args.threads:
            torch.set_num_threads(args.threads)
        args.mode, args.size = args.child[0], int(args.child[1])
        args.cfg = load_config(args.config_file, args.opts)
    return args


def run_size_sweep(
    script: str,
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], dict],
    modes: Sequence[str],
    options: Sequence[str] = (),
) -> Optional[Dict[int, Dict[str, dict]]]:
    """The sweep of a benchmark parsed with :func:`size_sweep_parser`. In the child process
    (``--child MODE SIZE``) prints ``measure(args)`` as JSON and returns None. Otherwise runs
    ``script`` once per size and mode (modes alternating, each in a fresh process, with the
    script's own ``options``) and returns {size: {mode: what measure returned}}."""
    from .utils.memory import measure_in_fresh_process

    if args.child:
        print(json.dumps(measure(args)))
        return None
    shared = ["--config-file", args.config_file, "--device", args.device,
              "--threads", str(args.threads), *options]  # fmt: skip
    results = {}
    for size in args.sizes:
        results[size] = {}
        for mode in modes:
            command = [sys.executable, script, *shared, "--child", mode, str(size), *args.opts]
            results[size][mode] = measure_in_fresh_process(command, f"the {mode} run at {size}")
        print(f"{size}: {json.dumps(results[size])}", file=sys.stderr)
    return results


def load_config(config_file: str, opts: Sequence[str] = (), add_config=add_maskformer2_config):
    """A new config: Detectron2's defaults, the keys ``add_config(cfg)`` adds (this project's
    image model's by default) with the inference options' (``add_inference_options_config``),
    ``config_file`` (a file or a shipped config's name) and the
    KEY VALUE ``opts``; not frozen.

    Raises:
        ConfigFileNotFoundError, ConfigKeyError, UsageError: one line each.
    """
    if not config_file:
        raise UsageError(
            "no --config-file: pass a config file or a shipped config's name, e.g. "
            "--config-file coco/panoptic_R50.yaml"
        )
    cfg = get_cfg()
    add_config(cfg)
    if "MASK_FORMER" in cfg.MODEL:  # an image or video MaskFormer config
        add_inference_options_config(cfg)
    merge_config(cfg, resolve_config_file(config_file), opts)
    return cfg


def check_device(
    cfg,
    fallback_to_cpu: bool,
    setting: str = "MODEL.DEVICE",
    cpu_hint: str = "add `MODEL.DEVICE cpu` to the command line",
) -> None:
    """The one rule for ``MODEL.DEVICE`` naming a CUDA device that this machine lacks (the
    published configs keep Detectron2's default, "cuda"): commands that draw or run a few
    images (``fallback_to_cpu``: the demo) set it to "cpu" with a warning; commands whose work
    is long or device-specific (training, evaluation, benchmarks) stop with one line naming
    ``MODEL.DEVICE cpu``, since hours on the wrong device are worse than an error.

    Args:
        setting, cpu_hint: what the message calls the setting and how it says to choose the
            CPU, for commands with a flag of their own (``--device``).

    Raises:
        CudaUnavailableError: when not ``fallback_to_cpu``.
    """
    device = cfg.MODEL.DEVICE
    if not device.startswith("cuda"):
        return
    index = int(device.split(":")[1]) if ":" in device else 0
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index < count:
        return
    found = f"this machine has {count} CUDA device(s)" if count else "no CUDA device is available"
    if fallback_to_cpu:
        was_frozen = cfg.is_frozen()
        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        if was_frozen:
            cfg.freeze()
        logger.warning(f"{setting} is {device!r} but {found}: running on the CPU")
        return
    raise CudaUnavailableError(f"{setting} is {device!r} but {found}: {cpu_hint} to run on the CPU")


def check_output_dir(folder: str, how_to_change: str) -> None:
    """Check, without creating anything, that ``folder`` is a writable folder or can be
    created: its nearest existing ancestor is a folder that this process may write to.

    Args:
        how_to_change: how the command line names another folder, e.g. "`OUTPUT_DIR path`".

    Raises:
        OutputNotWritableError: it cannot be created or written to.
    """
    path = os.path.abspath(os.path.expanduser(folder))
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        reason = f"{path} is a file" if path != os.path.abspath(folder) else "it is a file"
    elif not os.access(path, os.W_OK | os.X_OK):
        reason = f"no permission to write in {path}"
    else:
        return
    raise OutputNotWritableError(
        f"cannot write to the output folder {folder} ({reason}): choose another with "
        f"{how_to_change}"
    )
