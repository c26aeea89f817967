"""DataLoader worker count and host-side options sized from the machine (`num_workers: auto`)."""

from __future__ import annotations

import os

MAX_AUTO_WORKERS = 16  # past this a single GPU's stage-1 step no longer waits on the loader


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM or container limit), else cpu_count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def resolve_workers(value: int | str) -> int:
    """A `num_workers` setting as a count: `auto` is one worker per usable CPU, at most MAX_AUTO_WORKERS."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return min(MAX_AUTO_WORKERS, usable_cpus())
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = -1
    if workers < 0:
        raise ValueError(f"num_workers={value!r}: expected auto or a count >= 0")
    return workers
