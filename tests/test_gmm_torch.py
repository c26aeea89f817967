"""The GMM head's torch EM is scikit-learn's GaussianMixture step for step (k-means init, EM, stopping rule)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from src.models.differential.heads import build_head, load_head
from src.models.differential.operators import combine

EXACT = {"name": "gmm", "pca_dim": None, "max_train": None, "max_iter": 250}
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm (a-b)^2 features of same-video pairs with per-pair motion: overlapping, EM takes dozens of steps."""
    rng = np.random.default_rng(0)

    def features(n: int) -> np.ndarray:
        identity = np.repeat(rng.standard_normal((n // 8, 48)), 8, axis=0)
        a = identity + 0.3 * rng.standard_normal(identity.shape)
        b = a + 0.1 * rng.standard_normal(identity.shape) * rng.uniform(0.5, 2.0, (n, 1))
        return combine("sq", a, b)

    return features(2400), features(400)


def sklearn_mixture(X: np.ndarray, dtype: str, seed: int) -> GaussianMixture:
    """scikit-learn's own fit, on one thread as the head fits."""
    with threadpool_limits(limits=1):
        return GaussianMixture(3, covariance_type="full", init_params="kmeans", reg_covar=1e-6, max_iter=250,
                               tol=1e-3, random_state=seed).fit(X.astype(dtype))


def test_float64_torch_em_is_sklearns_fit(pairs) -> None:
    X, test = pairs
    ref = sklearn_mixture(X, "float64", seed=3)
    head = build_head({**EXACT, "backend": "torch", "device": "cpu", "dtype": "float64"}, seed=3).fit(X)
    assert ref.n_iter_ > 20 and (head.gmm.n_iter_, head.converged) == (ref.n_iter_, ref.converged_)
    for name in PARAMS:
        got, want = getattr(head.gmm, name), getattr(ref, name)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max(), err_msg=name)
    assert head.gmm.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(head.score(test), -ref.score_samples(test.astype(np.float64)), rtol=1e-10)


def test_float32_torch_em_follows_sklearns_float32_fit(pairs) -> None:
    X, test = pairs
    ref = sklearn_mixture(X, "float32", seed=3)
    head = build_head({**EXACT, "backend": "torch", "device": "cpu", "dtype": "float32"}, seed=3).fit(X)
    assert head.gmm.n_iter_ == ref.n_iter_ and head.gmm.means_.dtype == np.float32
    want = -ref.score_samples(test)
    assert np.abs(head.score(test) - want).max() < 1e-3 * np.ptp(want)


def test_sklearn_backend_fits_every_pair_in_the_chosen_dtype(pairs) -> None:
    X, test = pairs
    head = build_head({**EXACT, "dtype": "float32"}, seed=3).fit(X)
    ref = sklearn_mixture(X, "float32", seed=3)
    assert head.pca is None and head.gmm.means_.dtype == np.float32
    np.testing.assert_array_equal(head.gmm.means_, ref.means_)
    np.testing.assert_array_equal(head.score(test), -ref.score_samples(test).astype(np.float64))


def test_torch_fit_saves_as_arrays_and_scores_with_sklearn_after_load(pairs, tmp_path) -> None:
    X, test = pairs
    head = build_head({**EXACT, "backend": "torch", "device": "cpu"}, seed=1).fit(X)
    loaded = load_head(head.save(tmp_path / "gmm"))
    assert type(loaded.gmm) is GaussianMixture and loaded.state()["fitted_with"] == "torch:cpu"
    np.testing.assert_array_equal(loaded.score(test), head.score(test))


def test_fit_leaves_torch_settings_as_they_were(pairs) -> None:
    threads, precision = torch.get_num_threads(), torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # what stage 1 sets for TF32 training
    try:
        build_head({**EXACT, "backend": "torch", "device": "cpu", "cpu_threads": 1}, seed=1).fit(pairs[0][:300])
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(precision)
    assert torch.get_num_threads() == threads


def test_auto_backend_is_torch_exactly_when_cuda_is_there() -> None:
    head = build_head({**EXACT, "backend": "auto"}, seed=0)
    assert head._uses_torch() is torch.cuda.is_available()


@pytest.mark.parametrize(("option", "message"), [
    ({"backend": "jax"}, "unknown backend 'jax'; valid choices: sklearn, torch, auto"),
    ({"dtype": "float16"}, "unknown dtype 'float16'; valid choices: float64, float32"),
    ({"backend": "torch", "covariance_type": "diag"}, "fits covariance_type=full with init_params=kmeans only"),
])
def test_bad_options_are_named(pairs, option, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_head({**EXACT, **option}, seed=0).fit(pairs[0][:100])


def test_singular_covariance_names_the_fix() -> None:
    X = np.zeros((60, 6), dtype=np.float32)
    X[:, 0] = np.repeat([0.0, 1.0, 2.0], 20)  # three points, each repeated: zero covariance in every component
    with pytest.raises(ValueError, match="increase head.reg_covar"):
        build_head({**EXACT, "backend": "torch", "device": "cpu", "reg_covar": 0.0}, seed=0).fit(X)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_em_matches_sklearn(pairs, dtype) -> None:
    X, test = pairs
    ref = sklearn_mixture(X, dtype, seed=3)
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # the fit must not run on TF32 even so
    try:
        head = build_head({**EXACT, "backend": "torch", "device": "cuda", "dtype": dtype}, seed=3).fit(X)
    finally:
        torch.set_float32_matmul_precision(precision)
    want = -ref.score_samples(test)
    assert head.gmm.n_iter_ == ref.n_iter_
    assert np.abs(head.score(test) - want).max() < (1e-9 if dtype == "float64" else 1e-3) * np.ptp(want)
