"""Rank-normalised fusion of a differential head with the stage-1 classifier, weight chosen on validation data."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def rank_normalise(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mid-rank of each score within the sorted validation reference scores, in [0, 1]."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    if ref.size == 0:
        raise ValueError("rank normalisation needs validation reference scores")
    s = np.asarray(scores, dtype=np.float64)
    below = np.searchsorted(ref, s, side="left")
    upto = np.searchsorted(ref, s, side="right")
    return (below + upto) / (2.0 * ref.size)


def fuse(head_rank: np.ndarray, classifier_rank: np.ndarray, weight: float) -> np.ndarray:
    """weight * head + (1 - weight) * classifier, on rank-normalised scores."""
    return weight * np.asarray(head_rank) + (1.0 - weight) * np.asarray(classifier_rank)


def choose_weight(labels: np.ndarray, head_rank: np.ndarray, classifier_rank: np.ndarray,
                  weights: list[float]) -> tuple[float, dict[str, float]]:
    """The weight with the best validation ROC-AUC (ties: the one closest to 0.5), and AUC per weight."""
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise ValueError("choosing the fusion weight needs validation reals and pseudo-fakes")
    aucs = {f"{w:g}": float(roc_auc_score(labels, fuse(head_rank, classifier_rank, w))) for w in weights}
    best = max(aucs.values())
    chosen = min((w for w in weights if aucs[f"{w:g}"] >= best - 1e-12), key=lambda w: (abs(w - 0.5), w))
    return float(chosen), aucs
