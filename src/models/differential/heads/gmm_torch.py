"""Full-covariance Gaussian-mixture EM in torch (CPU or CUDA), step for step scikit-learn's GaussianMixture.

Same k-means initial responsibilities (sklearn's own KMeans with the seed GaussianMixture would give it), the
same M-step (centred covariances + reg_covar), Cholesky precisions, E-step, lower bound and stopping rule, so a
fit matches `GaussianMixture(covariance_type="full", init_params="kmeans", random_state=seed)` up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans

ILL_DEFINED = ("gmm: a component's covariance is not positive definite (singleton or collapsed samples); "
               "increase head.reg_covar, reduce head.n_components or use head.dtype=float64")


@dataclass
class MixtureFit:
    """Fitted parameters, as numpy arrays in the fit's dtype, and how EM ended."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    n_iter: int
    converged: bool
    lower_bound: float


def kmeans_responsibilities(X: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """One-hot k-means labels [N, K]: GaussianMixture's init_params='kmeans' with random_state=seed."""
    km = KMeans(n_clusters=n_components, n_init=1, random_state=np.random.RandomState(seed)).fit(X)
    resp = np.zeros((len(X), n_components), dtype=X.dtype)
    resp[np.arange(len(X)), km.labels_] = 1
    return resp


def _gaussian_parameters(X: torch.Tensor, resp: torch.Tensor, reg_covar: float
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft counts (+10 eps), means and full covariances (centred, reg_covar on the diagonal)."""
    nk = resp.sum(0) + 10 * torch.finfo(X.dtype).eps
    means = (resp.T @ X) / nk[:, None]
    covariances = torch.empty((len(nk), X.shape[1], X.shape[1]), dtype=X.dtype, device=X.device)
    for k in range(len(nk)):
        diff = X - means[k]
        covariances[k] = ((resp[:, k] * diff.T) @ diff) / nk[k]
        covariances[k].diagonal().add_(reg_covar)
    return nk, means, covariances


def _precision_cholesky(covariances: torch.Tensor) -> torch.Tensor:
    """Upper-triangular P_k with P_k P_k^T = inverse covariance: (L_k^-1)^T for the Cholesky factor L_k."""
    chol, info = torch.linalg.cholesky_ex(covariances)
    if bool((info != 0).any()):
        raise ValueError(ILL_DEFINED)
    eye = torch.eye(covariances.shape[-1], dtype=covariances.dtype, device=covariances.device)
    return torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False).transpose(-1, -2)


def _weighted_log_prob(X: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
                       prec_chol: torch.Tensor) -> torch.Tensor:
    """log w_k + log N(x | mu_k, Sigma_k) for every row and component [N, K]."""
    log_det = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
    maha = torch.stack([((X @ p) - (mu @ p)).square().sum(1) for mu, p in zip(means, prec_chol, strict=True)], 1)
    return -0.5 * (X.shape[1] * math.log(2 * math.pi) + maha) + log_det + torch.log(weights)


@contextmanager
def torch_cpu_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op CPU threads (None: leave as is)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def full_precision_matmul() -> Iterator[None]:
    """Plain float32 matmuls (no TF32) inside, whatever an earlier stage of the process chose."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


@torch.no_grad()
def fit_mixture(X: np.ndarray, resp: np.ndarray, reg_covar: float, max_iter: int, tol: float,
                device: torch.device) -> MixtureFit:
    """EM from initial responsibilities until |change of mean log-likelihood| < tol or max_iter steps."""
    with full_precision_matmul():
        return _em(X, resp, reg_covar, max_iter, tol, device)


def _em(X: np.ndarray, resp: np.ndarray, reg_covar: float, max_iter: int, tol: float,
        device: torch.device) -> MixtureFit:
    x = torch.from_numpy(np.ascontiguousarray(X)).to(device)
    nk, means, covariances = _gaussian_parameters(x, torch.from_numpy(resp).to(device), reg_covar)
    weights = nk / len(x)
    prec_chol = _precision_cholesky(covariances)
    lower_bound, converged, n_iter = -math.inf, False, 0
    while n_iter < max_iter and not converged:
        n_iter, previous = n_iter + 1, lower_bound
        weighted = _weighted_log_prob(x, weights, means, prec_chol)
        log_norm = torch.logsumexp(weighted, 1)
        lower_bound = float(log_norm.mean())
        nk, means, covariances = _gaussian_parameters(x, torch.exp(weighted - log_norm[:, None]), reg_covar)
        weights = nk / nk.sum()
        prec_chol = _precision_cholesky(covariances)
        converged = abs(lower_bound - previous) < tol
    arrays = [t.cpu().numpy() for t in (weights, means, covariances, prec_chol)]
    return MixtureFit(*arrays, n_iter=n_iter, converged=converged, lower_bound=lower_bound)
