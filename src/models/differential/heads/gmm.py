"""GMM head (paper baseline): a full-covariance Gaussian mixture, score = -log-likelihood; optional seeded PCA first.

Fitted by scikit-learn's GaussianMixture or, with backend=torch, by the same EM in torch (gmm_torch.py) on a
CPU or GPU. Either way the fitted arrays become a scikit-learn mixture, so scoring needs neither torch nor a GPU.
"""

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
BACKENDS = ("sklearn", "torch", "auto")
DTYPES = ("float64", "float32")


@dataclass
class GMMParams:
    """GaussianMixture settings; pca_dim (None = off) projects features first; max_train caps the fitted rows.

    backend: sklearn, torch (on `device`: auto = cuda when available) or auto (torch on a GPU, else sklearn).
    dtype: the EM's float type. cpu_threads: BLAS / torch threads while fitting on a CPU (None = library default).
    """

    n_components: int = 3
    covariance_type: str = "full"
    init_params: str = "kmeans"
    reg_covar: float = 1e-6
    max_iter: int = 100
    tol: float = 1e-3
    pca_dim: int | None = 64
    max_train: int | None = 8000
    backend: str = "sklearn"
    device: str = "auto"
    dtype: str = "float64"
    cpu_threads: int | None = 1


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


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

    def _check_params(self) -> None:
        p = self.params
        if p.backend not in BACKENDS:
            raise ValueError(f"gmm: unknown backend '{p.backend}'; valid choices: {', '.join(BACKENDS)}")
        if p.dtype not in DTYPES:
            raise ValueError(f"gmm: unknown dtype '{p.dtype}'; valid choices: {', '.join(DTYPES)}")
        if self._uses_torch() and (p.covariance_type, p.init_params) != ("full", "kmeans"):
            raise ValueError(f"gmm: backend={p.backend} fits covariance_type=full with init_params=kmeans only; "
                             f"got {p.covariance_type}/{p.init_params}: use backend=sklearn")

    def _uses_torch(self) -> bool:
        return self.params.backend == "torch" or (self.params.backend == "auto" and _cuda_available())

    def fit(self, X: np.ndarray) -> GMMHead:
        """Fit the projection (if any), then the mixture."""
        self._check_params()
        X = subsample(as_features(X, "gmm.fit"), self.params.max_train, self.seed, self.name)
        # one BLAS/OpenMP thread by default: EM iteration counts then do not depend on the machine's thread
        # count, and small-matrix EM runs several times faster than with threads competing for busy cores
        with threadpool_limits(limits=self.params.cpu_threads):
            self.pca = PCAProjection.fit(X, self._pca_dim(len(X)), self.seed) if self.params.pca_dim else None
            Z = self._project(X)
            self.gmm, self.fitted_with = self._fit_mixture(Z)
        self.converged = bool(self.gmm.converged_)
        self.in_dim = X.shape[1]
        return self

    def _fit_mixture(self, Z: np.ndarray) -> tuple[GaussianMixture, str]:
        """The fitted mixture and what fitted it."""
        if self._uses_torch():
            return self._fit_torch(Z)
        return self._mixture().fit(Z), "sklearn"

    def _fit_torch(self, Z: np.ndarray) -> tuple[GaussianMixture, str]:
        """EM in torch (imported here: only fitting needs it), as a fitted scikit-learn mixture, and the device."""
        import torch

        from src.models.differential.heads import gmm_torch

        p = self.params
        device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if p.device == "auto" else p.device)
        resp = gmm_torch.kmeans_responsibilities(Z, p.n_components, self.seed)
        with gmm_torch.torch_cpu_threads(p.cpu_threads):
            fit = gmm_torch.fit_mixture(Z, resp, p.reg_covar, p.max_iter, p.tol, device)
        if not fit.converged:
            log.warning("gmm: EM did not converge in max_iter=%d steps (torch, %s)", p.max_iter, device)
        log.info("gmm: torch EM on %s, %d steps, mean log-likelihood %.4f", device, fit.n_iter, fit.lower_bound)
        g = self._mixture()
        g.weights_, g.means_, g.covariances_ = fit.weights, fit.means, fit.covariances
        g.precisions_cholesky_, g.converged_, g.n_iter_ = fit.precisions_cholesky, fit.converged, fit.n_iter
        g.lower_bound_ = fit.lower_bound
        return g, f"torch:{device}"

    def _pca_dim(self, n: int) -> int:
        """pca_dim, capped so each component has at least twice as many pairs as dimensions (tiny data)."""
        cap = max(1, n // (2 * self.params.n_components))
        if self.params.pca_dim > cap:
            log.warning("gmm: %d training pairs support at most %d PCA dims for %d components (pca_dim=%d)",
                        n, cap, self.params.n_components, self.params.pca_dim)
        return min(self.params.pca_dim, cap)

    def _project(self, X: np.ndarray) -> np.ndarray:
        return (self.pca.transform(X) if self.pca else X).astype(self.params.dtype)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Negative log-likelihood per row."""
        X = self._check_fitted(X)
        return -self.gmm.score_samples(self._project(X)).astype(np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        """Mixture weights, means, covariances and precision Cholesky factors (+ the projection)."""
        g = self.gmm
        out = {"weights": g.weights_, "means": g.means_, "covariances": g.covariances_,
               "precisions_cholesky": g.precisions_cholesky_}
        return {**out, **(self.pca.arrays() if self.pca else {})}

    def state(self) -> dict[str, Any]:
        """Convergence flag, iteration count and what fitted it (sklearn or torch:<device>)."""
        return {"converged": self.converged, "n_iter": int(self.gmm.n_iter_), "fitted_with": self.fitted_with}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the sklearn mixture from its fitted arrays."""
        g = self._mixture()
        g.weights_, g.means_ = arrays["weights"], arrays["means"]
        g.covariances_, g.precisions_cholesky_ = arrays["covariances"], arrays["precisions_cholesky"]
        g.converged_, g.n_iter_ = state["converged"], state["n_iter"]
        self.gmm, self.converged = g, state["converged"]
        self.fitted_with = state.get("fitted_with", "sklearn")
        self.pca = PCAProjection.from_arrays(arrays) if self.params.pca_dim else None
