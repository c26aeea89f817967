"""Bootstrap AUC intervals, DeLong's test (against pROC's published figures), paired bootstrap, ROC bands."""

from __future__ import annotations

import math

import matplotlib.image
import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from src.evaluation.delong import auc_covariance, delong_test
from src.evaluation.intervals import (
    bootstrap_auc_interval,
    paired_bootstrap_difference,
    resample_counts,
    roc_band,
    weighted_auc,
)
from src.evaluation.metrics import tpr_at_fpr
from src.evaluation.plots import plot_roc

# pROC's aSAH data set (Turck et al. 2010, Intensive Care Medicine 36:107; shipped with the R package pROC):
# 113 patients in pROC's row order; outcome Poor = 1 (the "fake" class here), Good = 0; the WFNS grade
# (ordered factor, 1..5) and the S100B level as markers, higher = worse outcome.
ASAH_OUTCOME = ("00001101001011001011101000000000100110110000000001100010001010011101101111000110100000010000000000"
                "001111110001000")
ASAH_WFNS = ("11113254125255125225211112121134214541425511241125521251222151125214524414121421232421451154221113"
             "125225552445111")
ASAH_S100B = (
    "0.13 0.14 0.1 0.04 0.13 0.1 0.47 0.16 0.18 0.1 0.12 0.1 0.44 0.71 0.04 0.08 0.49 0.04 0.07 0.33 0.09 0.09 "
    "0.07 0.11 0.07 0.17 0.07 0.11 0.13 0.19 0.05 0.16 0.41 0.14 0.34 0.35 0.48 0.09 0.96 0.25 0.5 0.46 0.16 "
    "0.07 0.43 0.45 0.11 0.08 0.09 0.86 0.52 0.08 0.06 0.13 2.07 0.1 0.14 0.15 0.07 0.06 0.77 0.05 0.09 0.3 "
    "0.03 0.09 0.04 0.23 0.7 0.09 0.27 0.71 0.08 0.26 0.08 0.16 0.09 0.13 0.1 0.08 0.11 0.33 0.11 0.28 0.07 0.1 "
    "0.32 0.22 0.07 0.05 0.24 0.38 0.1 0.15 0.08 0.14 0.1 0.07 0.04 0.19 0.56 0.14 0.58 0.32 0.82 0.74 0.15 "
    "0.47 0.17 0.44 0.15 0.5 0.48")


@pytest.fixture
def asah() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([int(c) for c in ASAH_OUTCOME])
    wfns = np.array([float(c) for c in ASAH_WFNS])
    s100b = np.array([float(v) for v in ASAH_S100B.split()])
    assert labels.size == wfns.size == s100b.size == 113 and labels.sum() == 41
    return labels, wfns, s100b


def normal_scores(rng: np.random.Generator, n: int, separation: float) -> tuple[np.ndarray, np.ndarray]:
    """n reals ~ N(0, 1) and n fakes ~ N(separation, 1): true AUC = Phi(separation / sqrt(2))."""
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    return labels, rng.standard_normal(2 * n) + separation * labels


def test_delong_matches_procs_published_roc_test_on_asah(asah):
    """pROC's tests: roc.test(wfns, s100b) gives Z 2.20898359144091, p 0.0271757822291882, 95% CI of the
    difference [0.0104061769564846, 0.174214419249478]; auc() 0.823678861788618 and 0.731368563685637;
    var() 0.00146991470882363 and 0.00266868245717244."""
    labels, wfns, s100b = asah
    t = delong_test(labels, wfns, s100b)
    assert t.auc_a == pytest.approx(0.823678861788618, abs=1e-12)
    assert t.auc_b == pytest.approx(0.731368563685637, abs=1e-12)
    assert t.z == pytest.approx(2.20898359144091, abs=1e-10)
    assert t.p_value == pytest.approx(0.0271757822291882, abs=1e-12)
    assert (t.lo, t.hi) == pytest.approx((0.0104061769564846, 0.174214419249478), abs=1e-12)
    assert (t.n_real, t.n_fake, t.note) == (72, 41, "")
    assert t.format() == "+0.0923 [+0.0104, +0.1742], p = 0.0272"
    _, cov = auc_covariance(labels, wfns, s100b)
    assert np.diag(cov) == pytest.approx([0.00146991470882363, 0.00266868245717244], abs=1e-15)
    swapped = delong_test(labels, s100b, wfns)
    assert swapped.z == pytest.approx(-t.z) and swapped.p_value == pytest.approx(t.p_value)


def brute_force_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components by comparing every fake with every real: (fake V10, real V01)."""
    fake, real = scores[labels == 1], scores[labels == 0]
    psi = (fake[:, None] > real[None, :]) + 0.5 * (fake[:, None] == real[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def test_fast_delong_equals_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(3)
    labels = (rng.random(150) < 0.4).astype(int)
    a = np.round(rng.standard_normal(150) + labels, 1)  # rounding makes many ties
    b = np.round(0.6 * a + rng.standard_normal(150), 1)
    v10 = np.stack([brute_force_components(labels, s)[0] for s in (a, b)])
    v01 = np.stack([brute_force_components(labels, s)[1] for s in (a, b)])
    expected = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    aucs, cov = auc_covariance(labels, a, b)
    assert aucs == pytest.approx(v10.mean(axis=1), abs=1e-12)
    assert aucs == pytest.approx([roc_auc_score(labels, a), roc_auc_score(labels, b)], abs=1e-12)
    assert cov == pytest.approx(expected, abs=1e-14)
    diff = v10.mean(axis=1)[0] - v10.mean(axis=1)[1]
    z = diff / math.sqrt(expected[0, 0] + expected[1, 1] - 2 * expected[0, 1])
    assert delong_test(labels, a, b).z == pytest.approx(z, rel=1e-10)


def test_bootstrap_interval_holds_the_auc_and_is_reproducible():
    labels, scores = normal_scores(np.random.default_rng(0), 300, 1.0)
    first = bootstrap_auc_interval(labels, scores, seed=7)
    assert first.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert first.lo < first.auc < first.hi
    assert (first.n_resamples, first.confidence, first.seed) == (1000, 0.95, 7)
    assert bootstrap_auc_interval(labels, scores, seed=7) == first
    other = bootstrap_auc_interval(labels, scores, seed=8)
    assert other.auc == first.auc and (other.lo, other.hi) != (first.lo, first.hi)
    assert first.format() == f"{first.auc:.4f} [{first.lo:.4f}, {first.hi:.4f}]"
    assert bootstrap_auc_interval(labels, scores, seed=7, n_resamples=200, confidence=0.5).hi < first.hi


def test_bootstrap_interval_narrows_with_sample_size():
    widths = []
    for n in (50, 500, 5000):
        labels, scores = normal_scores(np.random.default_rng(n), n, 1.0)
        ci = bootstrap_auc_interval(labels, scores, seed=0)
        assert ci.lo <= ci.auc <= ci.hi
        widths.append(ci.hi - ci.lo)
    # width ~ 1/sqrt(n): about 3.2x narrower per tenfold n
    assert widths[1] < widths[0] / 2.5 and widths[2] < widths[1] / 2.5


def test_bootstrap_interval_covers_the_true_auc_near_the_nominal_rate():
    rng, separation = np.random.default_rng(11), 1.0
    true_auc = norm.cdf(separation / math.sqrt(2))
    hits = []
    for i in range(200):
        ci = bootstrap_auc_interval(*normal_scores(rng, 50, separation), seed=i)
        hits.append(ci.lo <= true_auc <= ci.hi)
    # 200 data sets: the binomial standard error of the coverage is 1.5 points
    assert abs(np.mean(hits) - 0.95) <= 0.04


def test_resamples_are_stratified_and_shared_between_callers():
    blocks = list(resample_counts(7, 5, 300, seed=1))
    real = np.concatenate([r for r, _ in blocks])
    fake = np.concatenate([f for _, f in blocks])
    assert real.shape == (300, 7) and fake.shape == (300, 5)
    assert (real.sum(axis=1) == 7).all() and (fake.sum(axis=1) == 5).all()
    again = np.concatenate([r for r, _ in resample_counts(7, 5, 300, seed=1)])
    assert (again == real).all()


def test_weighted_auc_equals_the_auc_of_the_expanded_resample_with_ties():
    rng = np.random.default_rng(5)
    labels = np.r_[np.zeros(40), np.ones(30)].astype(int)
    scores = rng.integers(0, 4, 70).astype(float) + 0.5 * labels  # four levels: ties within and across classes
    real, fake = scores[labels == 0], scores[labels == 1]
    real_counts, fake_counts = next(resample_counts(40, 30, 20, seed=0))
    aucs = weighted_auc(real, fake, real_counts, fake_counts)
    for auc, rc, fc in zip(aucs, real_counts, fake_counts, strict=True):
        expanded = np.r_[np.repeat(real, rc), np.repeat(fake, fc)]
        assert auc == pytest.approx(roc_auc_score(np.r_[np.zeros(40), np.ones(30)], expanded), abs=1e-12)


def test_paired_bootstrap_agrees_with_delong():
    rng = np.random.default_rng(2)
    labels = np.r_[np.zeros(400), np.ones(400)].astype(int)
    shared = rng.standard_normal(800)
    a = shared + 1.2 * labels + 0.5 * rng.standard_normal(800)
    b = shared + 0.8 * labels + 0.5 * rng.standard_normal(800)
    boot = paired_bootstrap_difference(labels, a, b, seed=0)
    dl = delong_test(labels, a, b)
    assert boot.diff == pytest.approx(dl.diff, abs=1e-12) and dl.diff > 0.05
    assert boot.lo > 0 and dl.lo > 0
    assert boot.se == pytest.approx(dl.se, rel=0.15)
    assert (boot.lo, boot.hi) == pytest.approx((dl.lo, dl.hi), abs=0.01)
    assert boot.p_value < 0.01 and dl.p_value < 0.01 and boot.note == ""
    assert paired_bootstrap_difference(labels, a, b, seed=0) == boot


def test_degenerate_input_fails_with_a_clear_message():
    scores = np.arange(6.0)
    with pytest.raises(ValueError, match="at least 2 real .* got 6 real and 0 fake"):
        bootstrap_auc_interval(np.zeros(6, int), scores, seed=0)
    with pytest.raises(ValueError, match="got 5 real and 1 fake"):
        delong_test(np.r_[np.zeros(5), 1].astype(int), scores, scores)
    with pytest.raises(ValueError, match="got 1 real and 5 fake"):
        roc_band(np.r_[0, np.ones(5)].astype(int), scores, seed=0)
    with pytest.raises(ValueError, match=r"labels must be 0 \(real\) or 1 \(fake\); got 2"):
        bootstrap_auc_interval(np.array([0, 1, 2, 0, 1, 1]), scores, seed=0)
    with pytest.raises(ValueError, match="one score per label"):
        paired_bootstrap_difference(np.array([0, 0, 1, 1]), np.arange(4.0), np.arange(5.0), seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        bootstrap_auc_interval(np.array([0, 0, 1, 1]), np.array([0.1, np.nan, 0.3, 0.4]), seed=0)
    with pytest.raises(ValueError, match="n_resamples must be at least 2"):
        bootstrap_auc_interval(np.array([0, 0, 1, 1]), np.arange(4.0), seed=0, n_resamples=1)
    with pytest.raises(ValueError, match="confidence must lie strictly between 0 and 1"):
        delong_test(np.array([0, 0, 1, 1]), np.arange(4.0), np.arange(4.0), confidence=95)
    with pytest.raises(ValueError, match="fpr_grid must be an increasing"):
        roc_band(np.array([0, 0, 1, 1]), np.arange(4.0), seed=0, fpr_grid=np.array([0.5, 0.2]))


def test_constant_and_identical_scorers_give_documented_results():
    labels = np.r_[np.zeros(20), np.ones(20)].astype(int)
    constant = np.full(40, 0.3)
    ci = bootstrap_auc_interval(labels, constant, seed=0)
    assert (ci.auc, ci.lo, ci.hi) == (0.5, 0.5, 0.5)
    informative = np.random.default_rng(0).standard_normal(40) + 2 * labels
    versus_constant = delong_test(labels, informative, constant)
    assert versus_constant.se > 0 and versus_constant.p_value < 0.001 and versus_constant.auc_b == 0.5
    for test in (delong_test(labels, informative, informative),
                 paired_bootstrap_difference(labels, informative, informative, seed=0),
                 delong_test(labels, constant, constant)):
        assert test.diff == 0.0 and math.isnan(test.z) and math.isnan(test.p_value)
        assert "no z or p" in test.note and test.lo == test.hi == 0.0


def test_roc_band_brackets_the_empirical_curve():
    labels, scores = normal_scores(np.random.default_rng(4), 100, 1.0)
    band = roc_band(labels, scores, seed=3, n_resamples=500)
    assert band.fpr.shape == band.tpr.shape == band.lo.shape == band.hi.shape == (101,)
    # with 100 reals every grid point is a ROC vertex: the curve there is the best TPR at that FPR
    assert band.tpr == pytest.approx([tpr_at_fpr(labels, scores, f) for f in band.fpr], abs=1e-12)
    assert (band.lo <= band.hi).all()
    assert (np.diff(band.lo) >= 0).all() and (np.diff(band.hi) >= 0).all() and (np.diff(band.tpr) >= 0).all()
    inside = (band.lo <= band.tpr + 1e-12) & (band.tpr <= band.hi + 1e-12)
    assert inside.mean() >= 0.9
    assert band.hi[-1] == band.lo[-1] == 1.0 and band.hi[50] - band.lo[50] > 0.05
    assert roc_band(labels, scores, seed=3, n_resamples=500).lo.tolist() == band.lo.tolist()


def test_roc_band_on_a_custom_grid_with_tied_scores():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.5, 0.8, 0.9])  # a tie across classes: a diagonal segment
    band = roc_band(labels, scores, seed=0, n_resamples=50, fpr_grid=np.array([0.0, 0.25, 0.5, 1.0]))
    # vertices (0, 0), (0, 0.5), (0.5, 1), (0.75, 1), (1, 1): the tie runs diagonally from (0, .5) to (.5, 1)
    assert band.tpr.tolist() == pytest.approx([0.5, 0.75, 1.0, 1.0])


def test_plot_roc_draws_bands_and_still_works_without(tmp_path):
    rng = np.random.default_rng(0)
    labels, scores = normal_scores(rng, 150, 1.0)
    other = scores + rng.standard_normal(300)
    all_labels, all_scores = {"head": labels, "classifier": labels}, {"head": scores, "classifier": other}
    bands = {name: roc_band(labels, s, seed=0, n_resamples=200) for name, s in all_scores.items()}
    plain, banded = tmp_path / "plain.png", tmp_path / "banded.png"
    plot_roc(plain, "ROC", all_labels, all_scores)
    plot_roc(banded, "ROC", all_labels, all_scores, bands=bands)
    assert plain.stat().st_size > 10_000 and banded.stat().st_size > 10_000
    ink = [(matplotlib.image.imread(p)[..., :3] < 0.95).any(axis=2).mean() for p in (plain, banded)]
    assert ink[1] > ink[0] + 0.05  # the shaded bands cover a visible share of the axes
