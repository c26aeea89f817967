"""Stage-2 sweep at FF++ scale on synthetic embeddings: 6 operators x 3 heads, fit + score; then the paper's GMM.

720 training videos x 32 pairs of 1792-d embeddings (23,040 pairs) and a test set of the same size (half
real, half with a temporally inconsistent sub-space). Heads use their defaults (the root config's `heads`).
The paper GMM (experiments/head/gmm_paper.yaml: full covariance on every full-dimensional pair) is fitted on
the sq features with scikit-learn, with the torch EM on the CPU and, when CUDA is available, on the GPU.
DIFFFAKE_BENCH_GMM_PAIRS=<n> fits it on the first n training pairs instead (printed as stage2_gmm_paper_pairs).
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from data_modules.io import to_plain
from src.config import compose_config
from src.models.differential.heads import Head, build_head
from src.models.differential.operators import OP_NAMES, combine

VIDEOS, PAIRS, DIM, SEED = 720, 32, 1792, 0
PAPER_OP = "sq"


def synthetic_pairs(rng: np.random.Generator, fake_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) frame embeddings [VIDEOS*PAIRS, DIM]: per-video identity, small natural change; fakes flicker."""
    identity = np.repeat(rng.standard_normal((VIDEOS, DIM), dtype=np.float32), PAIRS, axis=0)
    a = identity + 0.3 * rng.standard_normal(identity.shape, dtype=np.float32)
    b = a + 0.1 * rng.standard_normal(identity.shape, dtype=np.float32)
    n_fake = int(VIDEOS * fake_fraction) * PAIRS
    b[:n_fake, :256] += 0.3 * rng.standard_normal((n_fake, 256), dtype=np.float32)
    return a, b


def fake_labels() -> np.ndarray:
    """Labels of synthetic_pairs(rng, 0.5): the first half of the pairs are fakes (1)."""
    return np.r_[np.ones(VIDEOS // 2 * PAIRS), np.zeros(VIDEOS // 2 * PAIRS)]


def head_defaults() -> list[dict]:
    """Every head's default config: the `heads` that fit_head compares in the root config."""
    return [to_plain(h) for _, h in sorted(compose_config([]).heads.items())]


def _timed_fit(cfg: dict, X: np.ndarray) -> tuple[float, Head]:
    start = time.perf_counter()
    head = build_head(cfg, SEED).fit(X)
    return time.perf_counter() - start, head


def paper_gmm_figures(torch_cpu: bool = True) -> list[tuple[str, float, str]]:
    """Fit seconds of the paper GMM: scikit-learn, torch on the CPU (optional) and on CUDA when available.

    Each torch fit also reports the largest score difference from scikit-learn's fit, relative to the score range;
    stage2_pair_auc_gmm_paper is the sanity check of the sweep's stage2_pair_auc_<head> for the exact fit.
    """
    import torch

    rng = np.random.default_rng(SEED)
    train, test = synthetic_pairs(rng, 0.0), synthetic_pairs(rng, 0.5)
    n = min(int(os.environ.get("DIFFFAKE_BENCH_GMM_PAIRS", VIDEOS * PAIRS)), VIDEOS * PAIRS)
    X, X_test = combine(PAPER_OP, *train)[:n], combine(PAPER_OP, *test)
    cfg = to_plain(compose_config(["head=gmm_paper"]).head)
    seconds, ref = _timed_fit({**cfg, "backend": "sklearn"}, X)
    ref_scores = ref.score(X_test)
    figures = [("stage2_gmm_paper_pairs", float(n), "pairs"), ("stage2_gmm_paper_dims", float(X.shape[1]), "dims"),
               ("stage2_fit_gmm_paper_s", seconds, "s"), ("stage2_gmm_paper_em_steps", float(ref.gmm.n_iter_), ""),
               ("stage2_pair_auc_gmm_paper", roc_auc_score(fake_labels(), ref_scores), "")]
    devices = (["cpu"] if torch_cpu else []) + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        tag = "torch_cpu" if device == "cpu" else "gpu"
        if device == "cuda":  # CUDA context and solver handles are set up outside the timed fit
            build_head({**cfg, "backend": "torch", "device": device}, SEED).fit(X[:64, :8])
        t, head = _timed_fit({**cfg, "backend": "torch", "device": device}, X)
        diff = np.abs(head.score(X_test) - ref_scores).max() / np.ptp(ref_scores)
        figures += [(f"stage2_fit_gmm_paper_{tag}_s", t, "s"), (f"stage2_gmm_paper_{tag}_speedup", seconds / t, "x"),
                    (f"stage2_gmm_paper_{tag}_score_rel_diff", float(diff), "")]
    return figures


def run() -> list[tuple[str, float, str]]:
    """Fit and score every operator x head: total, per-head fit (summed over operators), scoring, peak RSS."""
    rng = np.random.default_rng(SEED)
    train, test = synthetic_pairs(rng, 0.0), synthetic_pairs(rng, 0.5)
    labels = fake_labels()
    fit_s: dict[str, float] = {}
    aucs: dict[str, list[float]] = {}
    score_s = 0.0
    start = time.perf_counter()
    for op in OP_NAMES:
        X, X_test = combine(op, *train), combine(op, *test)
        for cfg in head_defaults():
            t0 = time.perf_counter()
            head = build_head(cfg, SEED).fit(X)
            t1 = time.perf_counter()
            scores = head.score(X_test)
            score_s += time.perf_counter() - t1
            aucs.setdefault(cfg["name"], []).append(roc_auc_score(labels, scores))
            fit_s[cfg["name"]] = fit_s.get(cfg["name"], 0.0) + (t1 - t0)
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = [("stage2_sweep_s", total, "s")]
    figures += [(f"stage2_fit_{name}_s", value, "s") for name, value in sorted(fit_s.items())]
    figures += [("stage2_score_s", score_s, "s"), ("stage2_peak_rss", peak_mb, "MB")]
    # sanity, not speed: pair-level ROC-AUC on the synthetic test set, mean over the six operators
    figures += [(f"stage2_pair_auc_{name}", float(np.mean(v)), "") for name, v in sorted(aucs.items())]
    return figures + paper_gmm_figures()
