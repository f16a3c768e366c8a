"""Handing memory freed by tensors back to the operating system.

On Linux, PyTorch's CPU tensors live in glibc's ``malloc`` heaps. After a large block is
freed, glibc raises its mmap threshold to that block's size, so later blocks of that size
come from the heap instead of fresh mappings; freed heap pages in the middle of a heap are
kept for reuse rather than returned. Evaluating many corrupted test sets in a row (each
with its own temporary sizes) made the resident memory of a ``classify`` run grow by about
15 MB per set, although nothing stayed referenced: 65 sets of an MNIST-size run grew from
2.2 GB to 4.5 GB. ``malloc_trim(0)`` returns every free page of every heap to the system;
called once between evaluation sets it keeps the memory flat, for a few milliseconds.

No maintained library exposes this (Python's ``gc`` does not see these pages, and
PyTorch's CPU allocator is ``malloc`` itself), so glibc is called through :mod:`ctypes`.
Elsewhere (macOS, Windows, musl) :func:`release_free_memory` does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the free pages of glibc's heaps to the system; whether any were returned
    (``False`` also where the C library offers no ``malloc_trim``)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
