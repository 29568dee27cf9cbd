"""setup.py's choice of CUDA architectures when PyTorch cannot choose (no visible GPU and no
TORCH_CUDA_ARCH_LIST), with stand-in nvcc programs that list what a toolkit supports."""

import os
import stat

import pytest

from helpers.scripts import load_script


@pytest.fixture(scope="module")
def setup_py():
    # not __main__: defines the functions, builds nothing
    return load_script("setup.py", "mask2former_setup")


def fake_nvcc(folder, listing: str, status: int = 0) -> str:
    """``folder``/bin/nvcc, an executable that prints ``listing`` for --list-gpu-arch and exits
    with ``status``."""
    os.makedirs(os.path.join(folder, "bin"))
    path = os.path.join(folder, "bin", "nvcc")
    with open(path, "w") as f:
        f.write('#!/bin/sh\n[ "$1" = --list-gpu-arch ] || exit 9\n')
        f.write(f"cat <<'END'\n{listing}END\nexit {status}\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def listing(*capabilities) -> str:
    return "".join(f"compute_{c}\n" for c in capabilities)


# what `nvcc --list-gpu-arch` prints for CUDA 13.0 (no Volta any more) and CUDA 11.8
CUDA_13 = listing(75, 80, 86, 87, 88, 89, 90, 100, 110, 103, 120, 121)
CUDA_11_8 = listing(35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90)


def test_nvcc_listing_is_parsed(setup_py, tmp_path):
    assert setup_py.nvcc_archs(fake_nvcc(tmp_path / "13", CUDA_13)) == {
        "7.5", "8.0", "8.6", "8.7", "8.8", "8.9", "9.0", "10.0", "11.0", "10.3", "12.0", "12.1"
    }  # fmt: skip
    assert setup_py.nvcc_archs(fake_nvcc(tmp_path / "a", "compute_90a\nsm_90\n")) == {"9.0"}


def test_no_gpu_builds_the_defaults_the_toolkit_supports(setup_py, tmp_path):
    cuda_13 = fake_nvcc(tmp_path / "13", CUDA_13)
    assert setup_py.cuda_arch_list({}, 0, cuda_13) == "7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"
    cuda_11_8 = fake_nvcc(tmp_path / "11.8", CUDA_11_8)
    assert setup_py.cuda_arch_list({}, 0, cuda_11_8) == "7.0;7.5;8.0;8.6;8.9;9.0+PTX"
    # an empty variable counts as not set
    assert setup_py.cuda_arch_list({"TORCH_CUDA_ARCH_LIST": ""}, 0, cuda_13).endswith("12.0+PTX")


def test_pytorch_chooses_when_told_or_when_a_gpu_is_visible(setup_py, tmp_path):
    nvcc = fake_nvcc(tmp_path, CUDA_13)
    assert setup_py.cuda_arch_list({"TORCH_CUDA_ARCH_LIST": "9.0"}, 0, nvcc) is None
    assert setup_py.cuda_arch_list({}, 1, nvcc) is None


def test_nvcc_that_cannot_tell_gives_every_default(setup_py, tmp_path):
    everything = ";".join(setup_py.DEFAULT_CUDA_ARCHS) + "+PTX"
    assert setup_py.cuda_arch_list({}, 0, str(tmp_path / "missing" / "nvcc")) == everything
    failing = fake_nvcc(tmp_path / "old", "nvcc fatal: Unknown option\n", status=1)
    assert setup_py.cuda_arch_list({}, 0, failing) == everything


def test_toolkit_without_any_default_stops_with_one_line(setup_py, tmp_path):
    nvcc = fake_nvcc(tmp_path, listing(35, 50))
    with pytest.raises(SystemExit, match="supports none of the default CUDA architectures .*"
                       "set TORCH_CUDA_ARCH_LIST"):  # fmt: skip
        setup_py.cuda_arch_list({}, 0, nvcc)
