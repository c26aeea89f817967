"""Stratified bootstrap for ROC-AUC: a confidence interval, a paired difference of two scorers, ROC bands.

Reals and fakes are resampled with replacement separately, so every resample keeps both classes at their
original sizes. A resample is held as per-video draw counts; its AUC is then the count-weighted Mann-Whitney
statistic (ties count one half), the midrank AUC of the resample without building or sorting it.

Degenerate input: labels other than 0/1, NaN/inf scores, mismatched lengths, or fewer than 2 videos of a
class raise ValueError (with one video of a class every resample repeats it, so no interval exists).
Constant scores are valid: every resample has AUC 0.5 and the interval is [0.5, 0.5]; a paired comparison
whose bootstrap differences do not vary reports z and p as NaN with a `note` saying so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from data_modules.records import FAKE, REAL

MIN_PER_CLASS = 2
BLOCK_CELLS = 1 << 22  # resampled videos held at once: bounds memory for large inputs
ZERO_SE = 1e-12  # an AUC difference's standard error below this is taken as zero
DEFAULT_FPR_GRID = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class BootstrapSettings:
    """eval.bootstrap: how many stratified resamples, their seed, and the interval's confidence level."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _check_settings(self.resamples, self.confidence)


@dataclass(frozen=True)
class AUCInterval:
    """A ROC-AUC with its percentile bootstrap confidence interval."""

    auc: float
    lo: float
    hi: float
    n_resamples: int
    confidence: float
    seed: int

    def format(self) -> str:
        """`0.9123 [0.8810, 0.9402]`."""
        return f"{self.auc:.4f} [{self.lo:.4f}, {self.hi:.4f}]"


@dataclass(frozen=True)
class PairedBootstrap:
    """AUC(a) - AUC(b) on the same videos: percentile interval, and z / p from the bootstrap standard error."""

    auc_a: float
    auc_b: float
    diff: float
    lo: float
    hi: float
    se: float
    z: float
    p_value: float
    n_resamples: int
    confidence: float
    seed: int
    note: str = ""

    def format(self) -> str:
        """`+0.0923 [+0.0101, +0.1750], p = 0.0270`."""
        return f"{self.diff:+.4f} [{self.lo:+.4f}, {self.hi:+.4f}], p = {self.p_value:.4f}"


@dataclass(frozen=True)
class RocBand:
    """The ROC curve on a fixed FPR grid and the pointwise percentile band of its bootstrap curves."""

    fpr: np.ndarray
    tpr: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_resamples: int
    confidence: float
    seed: int


def enough_per_class(labels: np.ndarray, n: int = MIN_PER_CLASS) -> bool:
    """At least n reals and n fakes among `labels`: what an interval or a paired test needs."""
    labels = np.asarray(labels)
    return min(int((labels == REAL).sum()), int((labels == FAKE).sum())) >= n


def scores_by_class(labels: np.ndarray, *scores: np.ndarray,
                    min_per_class: int = MIN_PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """Each scorer's scores split into reals (k, n_real) and fakes (k, n_fake), after checking the input."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional; got shape {labels.shape}")
    bad = ~np.isin(labels, (REAL, FAKE))
    if bad.any():
        raise ValueError(f"labels must be {REAL} (real) or {FAKE} (fake); got {labels[bad][0].item()!r}")
    lengths = {np.shape(s) for s in scores}
    if lengths != {labels.shape}:
        raise ValueError(f"scores of shape {sorted(lengths)} for {labels.size} labels: pass one score per label")
    values = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("scores contain NaN or inf: drop or fix those videos before computing an interval")
    n_real, n_fake = int((labels == REAL).sum()), int((labels == FAKE).sum())
    if min(n_real, n_fake) < min_per_class:
        raise ValueError(f"needs at least {min_per_class} real (label {REAL}) and {min_per_class} fake "
                         f"(label {FAKE}) videos; got {n_real} real and {n_fake} fake")
    return values[:, labels == REAL], values[:, labels == FAKE]


def _check_settings(n_resamples: int, confidence: float) -> None:
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2; got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95); got {confidence}")


def _tails(confidence: float) -> tuple[float, float]:
    return (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0


def _draw_counts(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """(rows, n) counts of n draws with replacement from n items, one row per resample."""
    draws = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
    return np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)


def resample_counts(n_real: int, n_fake: int, n_resamples: int,
                    seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified resamples as draw counts per real and per fake video, in blocks of rows.

    The blocks depend only on the class sizes, n_resamples and seed, so every function here that uses the
    same seed sees the same resamples.
    """
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // (n_real + n_fake))
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        yield _draw_counts(rng, rows, n_real), _draw_counts(rng, rows, n_fake)


def weighted_auc(real: np.ndarray, fake: np.ndarray, real_counts: np.ndarray,
                 fake_counts: np.ndarray) -> np.ndarray:
    """AUC of each row's weighted sample: P(fake > real) + P(fake = real) / 2, videos counted by weight."""
    order = np.argsort(real, kind="stable")
    sorted_real = real[order]
    below = np.zeros((real_counts.shape[0], real.size + 1), dtype=np.int64)
    np.cumsum(real_counts[:, order], axis=1, out=below[:, 1:])
    left, right = np.searchsorted(sorted_real, fake, "left"), np.searchsorted(sorted_real, fake, "right")
    # reals below a fake + half the tied ones = (reals < fake + reals <= fake) / 2
    twice_u = (fake_counts * (below[:, left] + below[:, right])).sum(axis=1)
    return twice_u / (2.0 * real_counts.sum(axis=1) * fake_counts.sum(axis=1))


def _point_and_bootstrap(real: np.ndarray, fake: np.ndarray, n_resamples: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per scorer (rows of real/fake): the AUC (k,) and its bootstrap AUCs (k, n_resamples)."""
    ones_real, ones_fake = np.ones((1, real.shape[1]), np.int64), np.ones((1, fake.shape[1]), np.int64)
    point = np.array([weighted_auc(r, f, ones_real, ones_fake)[0] for r, f in zip(real, fake, strict=True)])
    blocks = [[weighted_auc(r, f, rc, fc) for r, f in zip(real, fake, strict=True)]
              for rc, fc in resample_counts(real.shape[1], fake.shape[1], n_resamples, seed)]
    return point, np.concatenate([np.stack(b) for b in blocks], axis=1)


def bootstrap_auc_interval(labels: np.ndarray, scores: np.ndarray, seed: int, n_resamples: int = 1000,
                           confidence: float = 0.95) -> AUCInterval:
    """The video-level ROC-AUC with a stratified percentile bootstrap interval."""
    _check_settings(n_resamples, confidence)
    real, fake = scores_by_class(labels, scores)
    point, boot = _point_and_bootstrap(real, fake, n_resamples, seed)
    lo, hi = np.quantile(boot[0], _tails(confidence))
    return AUCInterval(float(point[0]), float(lo), float(hi), n_resamples, confidence, seed)


def paired_bootstrap_difference(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, seed: int,
                                n_resamples: int = 1000, confidence: float = 0.95) -> PairedBootstrap:
    """AUC(a) - AUC(b) with both scorers evaluated on the same stratified resamples."""
    _check_settings(n_resamples, confidence)
    real, fake = scores_by_class(labels, scores_a, scores_b)
    point, boot = _point_and_bootstrap(real, fake, n_resamples, seed)
    diffs = boot[0] - boot[1]
    diff, se = float(point[0] - point[1]), float(diffs.std(ddof=1))
    lo, hi = np.quantile(diffs, _tails(confidence))
    if se < ZERO_SE:
        z = p = math.nan
        note = "the bootstrap AUC differences do not vary (e.g. identical or constant scorers): no z or p"
    else:
        z, note = diff / se, ""
        p = float(2.0 * norm.sf(abs(z)))
    return PairedBootstrap(float(point[0]), float(point[1]), diff, float(lo), float(hi), se, z, p,
                           n_resamples, confidence, seed, note)


def _roc_vertices(real: np.ndarray, fake: np.ndarray, real_counts: np.ndarray,
                  fake_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ROC vertices (fpr, tpr), from (0, 0) over every distinct score, highest first."""
    values = np.concatenate([real, fake])
    order = np.argsort(-values, kind="stable")
    group_end = np.r_[values[order][1:] != values[order][:-1], True]
    zeros_real, zeros_fake = np.zeros_like(real_counts), np.zeros_like(fake_counts)
    false_pos = np.cumsum(np.hstack([real_counts, zeros_fake])[:, order], axis=1)[:, group_end]
    true_pos = np.cumsum(np.hstack([zeros_real, fake_counts])[:, order], axis=1)[:, group_end]
    start = np.zeros((real_counts.shape[0], 1))
    return (np.hstack([start, false_pos / real_counts.sum(axis=1, keepdims=True)]),
            np.hstack([start, true_pos / fake_counts.sum(axis=1, keepdims=True)]))


def curve_on_grid(fpr: np.ndarray, tpr: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """TPR of each row's ROC at the grid's FPRs: the top of a vertical step at its FPR, linear in between."""
    pad = np.ones((fpr.shape[0], 1))
    fpr, tpr = np.hstack([fpr, 2.0 * pad]), np.hstack([tpr, pad])  # a vertex past FPR 1 ends every row
    # last vertex at or left of each grid point; the tolerance keeps k/n == grid point on the step's top
    at = np.stack([np.searchsorted(f, grid + 1e-12, "right") - 1 for f in fpr])
    x0, x1 = np.take_along_axis(fpr, at, 1), np.take_along_axis(fpr, at + 1, 1)
    y0, y1 = np.take_along_axis(tpr, at, 1), np.take_along_axis(tpr, at + 1, 1)
    return y0 + np.clip((grid - x0) / (x1 - x0), 0.0, 1.0) * (y1 - y0)


def _checked_grid(fpr_grid: np.ndarray | None) -> np.ndarray:
    grid = DEFAULT_FPR_GRID if fpr_grid is None else np.asarray(fpr_grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or (np.diff(grid) <= 0).any() or grid[0] < 0 or grid[-1] > 1:
        raise ValueError("fpr_grid must be an increasing 1-D array of at least 2 values in [0, 1]")
    return grid


def roc_band(labels: np.ndarray, scores: np.ndarray, seed: int, n_resamples: int = 1000,
             confidence: float = 0.95, fpr_grid: np.ndarray | None = None) -> RocBand:
    """The ROC on an FPR grid (default 0, 0.01, ..., 1) with a pointwise percentile bootstrap band."""
    _check_settings(n_resamples, confidence)
    grid = _checked_grid(fpr_grid)
    (real,), (fake,) = scores_by_class(labels, scores)
    ones_real, ones_fake = np.ones((1, real.size), np.int64), np.ones((1, fake.size), np.int64)
    tpr = curve_on_grid(*_roc_vertices(real, fake, ones_real, ones_fake), grid)[0]
    curves = np.concatenate([curve_on_grid(*_roc_vertices(real, fake, rc, fc), grid)
                             for rc, fc in resample_counts(real.size, fake.size, n_resamples, seed)])
    lo, hi = np.quantile(curves, _tails(confidence), axis=0)
    return RocBand(grid, tpr, lo, hi, n_resamples, confidence, seed)
