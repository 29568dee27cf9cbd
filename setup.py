"""Installs the mask2former package and builds its compiled operators as ``mask2former._C``.

The CPU kernels are always built. The CUDA kernels are built when a CUDA toolkit is found
(``CUDA_HOME``, or PyTorch's guess from ``nvcc`` on the PATH); set ``MASK2FORMER_CPU_ONLY=1`` to
skip them. They are built for the architectures in ``TORCH_CUDA_ARCH_LIST``; without it, for
the GPUs visible to PyTorch, and where none is visible (a Docker build, a login node, CI) for
``DEFAULT_CUDA_ARCHS`` below, less those the toolkit's ``nvcc`` cannot compile for. Build with
``pip install --no-build-isolation -e .`` (PyTorch must already be installed).

The configs under ``configs/`` are shipped inside the package as
``mask2former/model_zoo/configs/`` (copied into the build by ``build_py``), where
``mask2former.model_zoo`` finds them in an installed package; an editable install reads the
checkout's ``configs/`` folder instead.
"""

import glob
import os
import re
import shutil
import subprocess
from typing import Mapping, Optional, Set

import torch
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

OPS_DIR = "ops"
CONFIGS_DIR = "configs"
# where the configs go inside the package (mask2former/model_zoo/configs.py reads them there)
PACKAGED_CONFIGS = os.path.join("mask2former", "model_zoo", "configs")


def config_files():
    """The config files to ship: every .yaml under configs/, as paths relative to it."""
    paths = glob.glob(os.path.join(CONFIGS_DIR, "**", "*.yaml"), recursive=True)
    return sorted(os.path.relpath(p, CONFIGS_DIR) for p in paths)


class BuildPyWithConfigs(build_py):
    """build_py that also copies configs/ into the built package (keeping its layout, so the
    relative ``_BASE_`` references of the configs resolve there too)."""

    def run(self):
        super().run()
        if self.editable_mode:  # the package is the checkout, next to configs/
            return
        for name in config_files():
            target = os.path.join(self.build_lib, PACKAGED_CONFIGS, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(CONFIGS_DIR, name), target)


# Built for when no GPU is visible and TORCH_CUDA_ARCH_LIST is not set: Volta (V100), Turing
# (T4), Ampere (A100; A10, RTX 30), Ada (L4, L40, RTX 40), Hopper (H100, H200), Blackwell
# (B200; RTX 50). The newest one the toolkit supports is also embedded as PTX, which the
# driver compiles for GPUs newer than all of these.
DEFAULT_CUDA_ARCHS = ("7.0", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0")


def cuda_toolkit_found() -> bool:
    if os.environ.get("MASK2FORMER_CPU_ONLY", "0") == "1" or CUDA_HOME is None:
        return False
    return os.path.isfile(os.path.join(CUDA_HOME, "bin", "nvcc"))


def nvcc_archs(nvcc: str) -> Optional[Set[str]]:
    """The compute capabilities ``nvcc --list-gpu-arch`` names ("compute_90" -> "9.0"), or
    None when that nvcc cannot say (older than CUDA 11, or not runnable)."""
    try:
        listing = subprocess.run(
            [nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    found = {f"{m[1]}.{m[2]}" for m in re.finditer(r"\bcompute_(\d+)(\d)[a-z]?\b", listing)}
    return found or None


def cuda_arch_list(env: Mapping[str, str], visible_gpus: int, nvcc: str) -> Optional[str]:
    """The TORCH_CUDA_ARCH_LIST to build with, or None to leave the choice to PyTorch: when
    ``env`` sets one, or when a GPU is visible (PyTorch then builds for the visible GPUs; with
    none it fails with an IndexError). Otherwise DEFAULT_CUDA_ARCHS that ``nvcc`` supports
    (all of them if it cannot tell), the newest one also as PTX."""
    if env.get("TORCH_CUDA_ARCH_LIST") or visible_gpus > 0:
        return None
    supported = nvcc_archs(nvcc)
    chosen = [arch for arch in DEFAULT_CUDA_ARCHS if supported is None or arch in supported]
    if not chosen:
        raise SystemExit(
            f"mask2former: {nvcc} supports none of the default CUDA architectures "
            f"{';'.join(DEFAULT_CUDA_ARCHS)}; set TORCH_CUDA_ARCH_LIST to those to build for "
            "(see nvcc --list-gpu-arch), or MASK2FORMER_CPU_ONLY=1"
        )
    return ";".join(chosen[:-1] + [chosen[-1] + "+PTX"])


def make_extension():
    cpp_sources = sorted(glob.glob(os.path.join(OPS_DIR, "**", "*.cpp"), recursive=True))
    cxx_flags = ["-O3", "-fopenmp"]  # -fopenmp makes at::parallel_for multi-threaded
    if cuda_toolkit_found():
        nvcc = os.path.join(CUDA_HOME, "bin", "nvcc")
        arch_list = cuda_arch_list(os.environ, torch.cuda.device_count(), nvcc)
        if arch_list is not None:
            # read by torch.utils.cpp_extension when it compiles the .cu files
            os.environ["TORCH_CUDA_ARCH_LIST"] = arch_list
            print(
                f"mask2former: no GPU visible and TORCH_CUDA_ARCH_LIST not set: building the "
                f"CUDA kernels for {arch_list} (set TORCH_CUDA_ARCH_LIST to choose)"
            )
        cuda_sources = sorted(glob.glob(os.path.join(OPS_DIR, "**", "*.cu"), recursive=True))
        return CUDAExtension(
            "mask2former._C",
            cpp_sources + cuda_sources,
            define_macros=[("MASK2FORMER_WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "--use_fast_math"]},
            extra_link_args=["-fopenmp"],
        )
    return CppExtension(
        "mask2former._C",
        cpp_sources,
        extra_compile_args={"cxx": cxx_flags},
        extra_link_args=["-fopenmp"],
    )


if __name__ == "__main__":  # pip runs this file as __main__; tests import its functions
    setup(
        name="mask2former",
        version="0.1.0",
        packages=find_packages(include=["mask2former*"]),
        package_data={"mask2former": ["data/**/*.json", "model_zoo/*.json"]},
        ext_modules=[make_extension()],
        cmdclass={"build_ext": BuildExtension, "build_py": BuildPyWithConfigs},
        python_requires=">=3.9",
    )
