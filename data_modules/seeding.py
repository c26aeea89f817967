"""Generators seeded from a seed and text keys, identical across machines, processes and Python runs."""

from __future__ import annotations

import hashlib
import json

import numpy as np


def keyed_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by a SHA-256 of (seed, keys): one independent stream per key, e.g. per video."""
    digest = hashlib.sha256(json.dumps([int(seed), *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
