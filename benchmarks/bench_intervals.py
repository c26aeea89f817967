"""Stratified bootstrap of a video-level ROC-AUC: 1,000 resamples of 2,000 videos (1,000 real, 1,000 fake).

The vectorised interval against the same 1,000 resamples done naively, one scikit-learn roc_auc_score call
on an index-gathered resample each, in the same process. Then what evaluate adds to an FF++-sized test set
(140 reals, 4 x 140 fakes, 7 scorers, 32 frames and 16 pairs per video): intervals for every group and
scorer, ROC bands, frame- and pair-level metrics and DeLong comparisons.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score

from src.evaluation.comparisons import paired_comparisons
from src.evaluation.groups import evaluation_groups, group_metrics
from src.evaluation.intervals import BootstrapSettings, bootstrap_auc_interval
from src.evaluation.levels import sample_level_metrics
from src.evaluation.plots import roc_bands
from src.evaluation.videos import ScoredVideo

VIDEOS, RESAMPLES, SEED = 2000, 1000, 0
HEADS, SCORERS = ["gmm", "deep_svdd", "ocsvm"], ["gmm", "deep_svdd", "ocsvm", "classifier", "fusion_gmm",
                                                  "fusion_deep_svdd", "fusion_ocsvm"]
MANIPULATIONS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]


def _naive(labels: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The loop the vectorised version replaces: draw indices per class, gather, call scikit-learn."""
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    aucs = np.empty(RESAMPLES)
    for i in range(RESAMPLES):
        idx = np.r_[rng.choice(real, real.size), rng.choice(fake, fake.size)]
        aucs[i] = roc_auc_score(labels[idx], scores[idx])
    return aucs


def _ffpp_videos(rng: np.random.Generator) -> list[ScoredVideo]:
    videos = []
    for manip in ["real", *MANIPULATIONS]:
        label = int(manip != "real")
        for i in range(140):
            frames, pairs = rng.random(32) + 0.2 * label, {h: (rng.random(16) + 0.2 * label).tolist() for h in HEADS}
            scores = {s: float(rng.random() + 0.3 * label) for s in SCORERS}
            videos.append(ScoredVideo(f"ff/{manip}/c23/{i}", label, "ff", manip, "c23", 32, 16, scores=scores,
                                      frame_scores=frames.tolist(), pair_scores=pairs))
    return videos


def _evaluate_reporting_s(videos: list[ScoredVideo]) -> float:
    """Seconds for everything evaluate computes beyond the point metrics."""
    boot = BootstrapSettings(RESAMPLES, SEED)
    start = time.perf_counter()
    group_metrics(videos, SCORERS, [0.01, 0.05], True, boot)
    groups = evaluation_groups(videos)
    sample_level_metrics(videos, groups, "classifier", HEADS)
    paired_comparisons(videos, {"ff": groups["ff"]}, SCORERS, HEADS[0])
    labels = {s: np.array([v.label for v in videos]) for s in SCORERS[:4]}
    roc_bands(labels, {s: np.array([v.scores[s] for v in videos]) for s in SCORERS[:4]}, boot)
    return time.perf_counter() - start


def run() -> list[tuple[str, float, str]]:
    """bootstrap_auc_1000x2000_ms (best of 5), its speedup over the naive scikit-learn loop, and
    evaluate_reporting_ffpp_s."""
    rng = np.random.default_rng(SEED)
    labels = np.r_[np.zeros(VIDEOS // 2), np.ones(VIDEOS // 2)].astype(int)
    scores = rng.standard_normal(VIDEOS) + labels
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fast = bootstrap_auc_interval(labels, scores, seed=SEED, n_resamples=RESAMPLES)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    naive = _naive(labels, scores, rng)
    naive_s = time.perf_counter() - start
    lo, hi = np.quantile(naive, [0.025, 0.975])
    if abs(lo - fast.lo) > 0.01 or abs(hi - fast.hi) > 0.01:
        raise RuntimeError(f"naive interval [{lo:.4f}, {hi:.4f}] disagrees with {fast.format()}")
    return [("bootstrap_auc_1000x2000_ms", 1000 * min(times), "ms"),
            ("bootstrap_auc_speedup_vs_sklearn_loop", naive_s / min(times), "x"),
            ("evaluate_reporting_ffpp_s", _evaluate_reporting_s(_ffpp_videos(rng)), "s")]
