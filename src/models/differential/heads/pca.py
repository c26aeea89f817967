"""Seeded PCA projection shared by heads that offer a `pca_dim` option (stored as plain arrays)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA


@dataclass
class PCAProjection:
    """x -> (x - mean) @ components.T, fitted with randomized SVD under a fixed seed."""

    mean: np.ndarray
    components: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, dim: int, seed: int) -> PCAProjection:
        """Fit `dim` principal directions on X (dim is capped by the data's rank limits)."""
        dim = min(int(dim), X.shape[0], X.shape[1])
        pca = PCA(n_components=dim, svd_solver="randomized", random_state=seed).fit(X)
        return cls(pca.mean_.astype(np.float32), pca.components_.astype(np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project rows of X."""
        return (X - self.mean) @ self.components.T

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays for safetensors."""
        return {"pca_mean": self.mean, "pca_components": self.components}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PCAProjection:
        """Inverse of `arrays()`."""
        return cls(arrays["pca_mean"], arrays["pca_components"])
