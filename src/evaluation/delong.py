"""DeLong's test of two correlated ROC-AUCs (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837).

The structural components come from midranks as in Sun & Xu (2014, IEEE Signal Processing Letters 21:1389):
O(N log N) per scorer instead of the O(n_real * n_fake) pairwise comparisons; ties count one half.

Degenerate input raises ValueError as in `intervals.scores_by_class` (fewer than 2 videos of a class leaves
the components' covariance undefined). When the difference has zero variance (identical scorers, or both
separating the classes perfectly or not at all), z and p are NaN, the interval is the difference itself,
and `note` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from data_modules.records import FAKE
from src.evaluation.intervals import ZERO_SE, scores_by_class


@dataclass(frozen=True)
class DeLongTest:
    """AUC(a) - AUC(b) on the same videos: DeLong standard error, z, two-sided p and a normal interval."""

    auc_a: float
    auc_b: float
    diff: float
    se: float
    z: float
    p_value: float
    lo: float
    hi: float
    confidence: float
    n_real: int
    n_fake: int
    note: str = ""

    def format(self) -> str:
        """`+0.0923 [+0.0104, +0.1742], p = 0.0272`."""
        return f"{self.diff:+.4f} [{self.lo:+.4f}, {self.hi:+.4f}], p = {self.p_value:.4f}"


def auc_covariance(labels: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scorers' AUCs (k,) and DeLong's estimate of their covariance matrix (k, k)."""
    real, fake = scores_by_class(labels, *scores)
    n_real, n_fake = real.shape[1], fake.shape[1]
    within_real, within_fake = rankdata(real, axis=1), rankdata(fake, axis=1)
    pooled = rankdata(np.hstack([fake, real]), axis=1)
    # a fake's pooled rank minus its rank among fakes = reals below it (+ half the ties), and vice versa
    fake_components = (pooled[:, :n_fake] - within_fake) / n_real
    real_components = 1.0 - (pooled[:, n_fake:] - within_real) / n_fake
    aucs = fake_components.mean(axis=1)
    cov = np.atleast_2d(np.cov(fake_components)) / n_fake + np.atleast_2d(np.cov(real_components)) / n_real
    return aucs, cov


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                confidence: float = 0.95) -> DeLongTest:
    """DeLong's paired test of AUC(a) = AUC(b) for two scorers of the same videos (labels 0 real, 1 fake)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95); got {confidence}")
    (auc_a, auc_b), cov = auc_covariance(labels, scores_a, scores_b)
    diff = float(auc_a - auc_b)
    se = math.sqrt(max(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1], 0.0))
    n_fake = int(np.sum(np.asarray(labels) == FAKE))
    half_width = float(norm.ppf((1.0 + confidence) / 2.0)) * se
    if se < ZERO_SE:
        z = p = math.nan
        note = ("the AUC difference has zero DeLong variance (identical scorers, or perfect or constant "
                "scores on both): no z or p")
    else:
        z, note = diff / se, ""
        p = float(2.0 * norm.sf(abs(z)))
    return DeLongTest(float(auc_a), float(auc_b), diff, se, z, p, diff - half_width, diff + half_width,
                      confidence, np.size(labels) - n_fake, n_fake, note)
