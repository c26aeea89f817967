"""Keep freed image buffers in the heap: a fresh mmap per frame-sized array costs more than the kernels on it.

glibc serves blocks above M_MMAP_THRESHOLD with new mmap pages, so every crop, mask and blend output of the
pseudo-fake generator (0.1-2 MB each) would page-fault on first touch. Raising the mmap and trim thresholds
lets those blocks be reused from the heap; it cut the generator's median CPU time by 5-15% in
benchmarks/bench_blend.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers from glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # larger blocks (batched tensors, whole videos) still come from mmap
TRIM_THRESHOLD = 128 << 20  # free heap kept for reuse before it is returned to the system


@cache
def keep_freed_buffers() -> bool:
    """Raise glibc's mmap/trim thresholds once per process; False (and nothing changed) without glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
