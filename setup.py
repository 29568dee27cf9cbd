"""Installs the mask2former package and builds its compiled operators as ``mask2former._C``.

The CPU kernels are always built. The CUDA kernels are built when a CUDA toolkit is found
(``CUDA_HOME``, or PyTorch's guess from ``nvcc`` on the PATH), for the architectures in
``TORCH_CUDA_ARCH_LIST``; set ``MASK2FORMER_CPU_ONLY=1`` to skip them. Build with
``pip install --no-build-isolation -e .`` (PyTorch must already be installed).

The configs under ``configs/`` are shipped inside the package as
``mask2former/model_zoo/configs/`` (copied into the build by ``build_py``), where
``mask2former.model_zoo`` finds them in an installed package; an editable install reads the
checkout's ``configs/`` folder instead.
"""
import glob
import os
import shutil

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


def cuda_toolkit_found() -> bool:
    if os.environ.get("MASK2FORMER_CPU_ONLY", "0") == "1" or CUDA_HOME is None:
        return False
    return os.path.isfile(os.path.join(CUDA_HOME, "bin", "nvcc"))


def make_extension():
    cpp_sources = sorted(glob.glob(os.path.join(OPS_DIR, "**", "*.cpp"), recursive=True))
    cxx_flags = ["-O3", "-fopenmp"]  # -fopenmp makes at::parallel_for multi-threaded
    if cuda_toolkit_found():
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


setup(
    name="mask2former",
    version="0.1.0",
    packages=find_packages(include=["mask2former*"]),
    package_data={"mask2former": ["data/**/*.json", "model_zoo/*.json"]},
    ext_modules=[make_extension()],
    cmdclass={"build_ext": BuildExtension, "build_py": BuildPyWithConfigs},
    python_requires=">=3.9",
)
