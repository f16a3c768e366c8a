"""Build script for the optional C kernel of the HEM loss; everything else is in pyproject.toml.

The extension is optional: where no C compiler is available the build goes on without it
and ``hem_bench.losses.hem`` falls back to its pure-PyTorch implementation.
"""

import sys

from setuptools import Extension, setup

compile_args = [] if sys.platform == "win32" else ["-O3", "-fopenmp-simd", "-std=c11"]
link_args = [] if sys.platform == "win32" else ["-pthread"]

setup(
    ext_modules=[
        Extension(
            "hem_bench.losses._hem_kernel",
            sources=["hem_bench/losses/_hem_kernel.c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        )
    ]
)
