"""Stage-2 sweep at FF++ scale on synthetic embeddings: 6 operators x 3 heads, fit + score.

720 training videos x 32 pairs of 1792-d embeddings (23,040 pairs) and a test set of the same size (half
real, half with a temporally inconsistent sub-space). Heads use their experiments/head/*.yaml defaults.
"""

from __future__ import annotations

import resource
import time

import numpy as np
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score

from src.config import CONFIG_DIR
from src.models.differential.heads import build_head
from src.models.differential.operators import OP_NAMES, combine

VIDEOS, PAIRS, DIM, SEED = 720, 32, 1792, 0


def synthetic_pairs(rng: np.random.Generator, fake_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) frame embeddings [VIDEOS*PAIRS, DIM]: per-video identity, small natural change; fakes flicker."""
    identity = np.repeat(rng.standard_normal((VIDEOS, DIM), dtype=np.float32), PAIRS, axis=0)
    a = identity + 0.3 * rng.standard_normal(identity.shape, dtype=np.float32)
    b = a + 0.1 * rng.standard_normal(identity.shape, dtype=np.float32)
    n_fake = int(VIDEOS * fake_fraction) * PAIRS
    b[:n_fake, :256] += 0.3 * rng.standard_normal((n_fake, 256), dtype=np.float32)
    return a, b


def head_defaults() -> list[dict]:
    """Every head's default config."""
    return [OmegaConf.to_container(OmegaConf.load(p)) for p in sorted((CONFIG_DIR / "head").glob("*.yaml"))]


def run() -> list[tuple[str, float, str]]:
    """Fit and score every operator x head: total, per-head fit (summed over operators), scoring, peak RSS."""
    rng = np.random.default_rng(SEED)
    train, test = synthetic_pairs(rng, 0.0), synthetic_pairs(rng, 0.5)
    labels = np.r_[np.ones(VIDEOS // 2 * PAIRS), np.zeros(VIDEOS // 2 * PAIRS)]
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
    return figures + [(f"stage2_pair_auc_{name}", float(np.mean(v)), "") for name, v in sorted(aucs.items())]
