"""GMM head (paper baseline): scikit-learn GaussianMixture, score = -log-likelihood; optional seeded PCA first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from src.models.differential.heads.base import HEADS, Head, as_features, subsample
from src.models.differential.heads.pca import PCAProjection
from src.utils.logging import get_logger

log = get_logger(__name__)


@dataclass
class GMMParams:
    """GaussianMixture settings; pca_dim (None = off) projects features first; max_train caps the fitted rows."""

    n_components: int = 3
    covariance_type: str = "full"
    init_params: str = "kmeans"
    reg_covar: float = 1e-6
    max_iter: int = 100
    tol: float = 1e-3
    pca_dim: int | None = 64
    max_train: int | None = 8000


@HEADS.register("gmm")
class GMMHead(Head):
    """Gaussian mixture over (optionally PCA-projected) pair features."""

    name = "gmm"
    Params = GMMParams

    def _mixture(self) -> GaussianMixture:
        p = self.params
        return GaussianMixture(n_components=p.n_components, covariance_type=p.covariance_type,
                               init_params=p.init_params, reg_covar=p.reg_covar, max_iter=p.max_iter, tol=p.tol,
                               random_state=self.seed)

    def fit(self, X: np.ndarray) -> GMMHead:
        """Fit the projection (if any), then the mixture."""
        X = subsample(as_features(X, "gmm.fit"), self.params.max_train, self.seed, self.name)
        # one BLAS/OpenMP thread: EM iteration counts then do not depend on the machine's thread count,
        # and small-matrix EM runs several times faster than with threads competing for busy cores
        with threadpool_limits(limits=1):
            self.pca = PCAProjection.fit(X, self._pca_dim(len(X)), self.seed) if self.params.pca_dim else None
            self.gmm = self._mixture().fit(self._project(X))
        self.converged = bool(self.gmm.converged_)
        self.in_dim = X.shape[1]
        return self

    def _pca_dim(self, n: int) -> int:
        """pca_dim, capped so each component has at least twice as many pairs as dimensions (tiny data)."""
        cap = max(1, n // (2 * self.params.n_components))
        if self.params.pca_dim > cap:
            log.warning("gmm: %d training pairs support at most %d PCA dims for %d components (pca_dim=%d)",
                        n, cap, self.params.n_components, self.params.pca_dim)
        return min(self.params.pca_dim, cap)

    def _project(self, X: np.ndarray) -> np.ndarray:
        return (self.pca.transform(X) if self.pca else X).astype(np.float64)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Negative log-likelihood per row."""
        X = self._check_fitted(X)
        return -self.gmm.score_samples(self._project(X))

    def arrays(self) -> dict[str, np.ndarray]:
        """Mixture weights, means, covariances and precision Cholesky factors (+ the projection)."""
        g = self.gmm
        out = {"weights": g.weights_, "means": g.means_, "covariances": g.covariances_,
               "precisions_cholesky": g.precisions_cholesky_}
        return {**out, **(self.pca.arrays() if self.pca else {})}

    def state(self) -> dict[str, Any]:
        """Convergence flag and iteration count."""
        return {"converged": self.converged, "n_iter": int(self.gmm.n_iter_)}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the sklearn mixture from its fitted arrays."""
        g = self._mixture()
        g.weights_, g.means_ = arrays["weights"], arrays["means"]
        g.covariances_, g.precisions_cholesky_ = arrays["covariances"], arrays["precisions_cholesky"]
        g.converged_, g.n_iter_ = state["converged"], state["n_iter"]
        self.gmm, self.converged = g, state["converged"]
        self.pca = PCAProjection.from_arrays(arrays) if self.params.pca_dim else None
