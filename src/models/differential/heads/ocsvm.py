"""OC-SVM head (paper baseline): scikit-learn OneClassSVM with an RBF kernel, score = -decision_function.

libsvm is given the exact RBF Gram matrix (computed with BLAS) as a precomputed kernel, which is the same
optimisation problem as kernel="rbf" but far faster at 1792-d; scoring evaluates the fitted support-vector
expansion directly. Training rows above max_train are subsampled with the head's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.svm import OneClassSVM
from threadpoolctl import threadpool_limits

from src.models.differential.heads.base import HEADS, Head, as_features, subsample

_CHUNK = 4096


@dataclass
class OCSVMParams:
    """kernel must be rbf; gamma is 'auto' (1/D), 'scale' (1/(D var X)) or a number."""

    kernel: str = "rbf"
    gamma: str | float = "auto"
    nu: float = 0.1
    tol: float = 1e-3
    max_train: int | None = 5000


def rbf_kernel(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma ||a - b||^2) for all row pairs: float32 dot products (BLAS), float64 from there on."""
    A, B = A.astype(np.float32, copy=False), B.astype(np.float32, copy=False)
    sq = -2.0 * (A @ B.T).astype(np.float64)
    sq += np.square(A, dtype=np.float64).sum(1)[:, None]
    sq += np.square(B, dtype=np.float64).sum(1)[None, :]
    return np.exp(-gamma * np.maximum(sq, 0.0))


@HEADS.register("ocsvm")
class OCSVMHead(Head):
    """One-class SVM over pair features."""

    name = "ocsvm"
    Params = OCSVMParams

    def _gamma(self, X: np.ndarray) -> float:
        g = self.params.gamma
        if g == "auto":
            return 1.0 / X.shape[1]
        if g == "scale":
            return 1.0 / (X.shape[1] * float(X.var()))
        return float(g)

    def fit(self, X: np.ndarray) -> OCSVMHead:
        """Subsample (seeded) if needed, fit libsvm on the exact RBF Gram matrix, keep the support vectors."""
        if self.params.kernel != "rbf":
            raise ValueError(f"ocsvm: only kernel='rbf' is supported, got '{self.params.kernel}'")
        X = as_features(X, "ocsvm.fit")
        X = subsample(X, self.params.max_train, self.seed, self.name)
        self.gamma = self._gamma(X)
        svm = OneClassSVM(kernel="precomputed", nu=self.params.nu, tol=self.params.tol)
        with threadpool_limits(limits=1):  # a bit-identical Gram matrix on every machine
            svm.fit(rbf_kernel(X, X, self.gamma))
        self.support_vectors = X[svm.support_]
        self.dual_coef = svm.dual_coef_[0].astype(np.float64)
        self.intercept = float(svm.intercept_[0])
        self.n_train = len(X)
        self.in_dim = X.shape[1]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """sum_i alpha_i K(sv_i, x) + intercept (sklearn's decision_function), in chunks."""
        X = self._check_fitted(X)
        out = [rbf_kernel(X[i:i + _CHUNK], self.support_vectors, self.gamma) @ self.dual_coef
               for i in range(0, len(X), _CHUNK)]
        return np.concatenate(out) + self.intercept

    def score(self, X: np.ndarray) -> np.ndarray:
        """-decision_function: outside the learned support is positive."""
        return -self.decision_function(X)

    def arrays(self) -> dict[str, np.ndarray]:
        """Support vectors and dual coefficients."""
        return {"support_vectors": self.support_vectors, "dual_coef": self.dual_coef}

    def state(self) -> dict[str, Any]:
        """Intercept, gamma and the number of training rows used."""
        return {"intercept": self.intercept, "gamma": self.gamma, "n_train": self.n_train}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the support-vector expansion."""
        self.support_vectors, self.dual_coef = arrays["support_vectors"], arrays["dual_coef"]
        self.intercept, self.gamma, self.n_train = state["intercept"], state["gamma"], state["n_train"]
