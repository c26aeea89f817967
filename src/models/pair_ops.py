"""Pair combination operators: two frame embeddings of the same video -> one feature vector."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "abs": lambda a, b: np.abs(a - b),
    "sub": lambda a, b: a - b,
    "sq": lambda a, b: np.square(a - b),
    "cube": lambda a, b: np.power(a - b, 3),
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "prod": lambda a, b: a * b,
}
_WIDTH = {"concat": 2}
# f(a, b) == f(b, a); `sub` and `cube` are antisymmetric instead: f(a, b) == -f(b, a).
SYMMETRIC = frozenset({"abs", "sq", "prod"})
ANTISYMMETRIC = frozenset({"sub", "cube"})
OP_NAMES = tuple(_OPS)
_EPS = 1e-12


def _check(name: str) -> None:
    if name not in _OPS:
        raise ValueError(f"unknown pair operator '{name}'; valid choices: {', '.join(OP_NAMES)}")


def output_dim(name: str, d: int) -> int:
    """Width of `combine(name, a, b)` for d-dimensional embeddings."""
    _check(name)
    return _WIDTH.get(name, 1) * d


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, _EPS)


def combine(name: str, a: np.ndarray, b: np.ndarray, l2_normalize: bool = True) -> np.ndarray:
    """Combine embeddings a, b ([..., D], float) into float32 pair features; L2-normalise the result if asked."""
    _check(name)
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"pair operator '{name}' needs equal shapes, got {a.shape} and {b.shape}")
    out = _OPS[name](a, b).astype(np.float32, copy=False)
    return unit_rows(out) if l2_normalize else out
