"""Pair combination operators (`pair_op.name`): two frame embeddings of the same video -> one feature vector."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data_modules.registry import Registry

Operator = Callable[[np.ndarray, np.ndarray], np.ndarray]
OPERATORS: Registry[Operator] = Registry("pair operator")
OPERATORS.add("abs", lambda a, b: np.abs(a - b))
OPERATORS.add("sub", lambda a, b: a - b)
OPERATORS.add("sq", lambda a, b: np.square(a - b))
OPERATORS.add("cube", lambda a, b: np.power(a - b, 3))
OPERATORS.add("concat", lambda a, b: np.concatenate([a, b], axis=-1))
OPERATORS.add("prod", lambda a, b: a * b)
OP_NAMES = tuple(OPERATORS.names())
_EPS = 1e-12


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, _EPS)


def combine(name: str, a: np.ndarray, b: np.ndarray, l2_normalize: bool = True) -> np.ndarray:
    """Combine embeddings a, b ([..., D], float) into float32 pair features; L2-normalise the result if asked."""
    op = OPERATORS.get(name)
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"pair operator '{name}' needs equal shapes, got {a.shape} and {b.shape}")
    out = op(a, b).astype(np.float32, copy=False)
    return unit_rows(out) if l2_normalize else out
