"""Installs the mask2former package and builds its compiled operators as ``mask2former._C``.

The CPU kernels are always built. The CUDA kernels are built when a CUDA toolkit is found
(``CUDA_HOME``, or PyTorch's guess from ``nvcc`` on the PATH), for the architectures in
``TORCH_CUDA_ARCH_LIST``; set ``MASK2FORMER_CPU_ONLY=1`` to skip them. Build with
``pip install --no-build-isolation -e .`` (PyTorch must already be installed).
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

OPS_DIR = "ops"


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
    package_data={"mask2former": ["data/**/*.json"]},
    ext_modules=[make_extension()],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.9",
)
