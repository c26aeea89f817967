"""Evaluation groups: each dataset as a whole, and per manipulation and compression against matching reals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from src.evaluation.intervals import (
    MIN_PER_CLASS,
    BootstrapSettings,
    bootstrap_auc_interval,
    enough_per_class,
)
from src.evaluation.metrics import accuracies_at, detection_metrics
from src.evaluation.videos import ScoredVideo

GroupMetrics = dict[str, dict[str, dict[str, Any]]]  # group -> scorer -> metric -> value
Thresholds = Mapping[str, Mapping[str, float]]  # scorer -> FPR key ("0.01") -> validation-calibrated threshold


def evaluation_groups(videos: Sequence[ScoredVideo]) -> dict[str, np.ndarray]:
    """Group name -> boolean mask over `videos`.

    `<dataset>`: every video of the dataset. `<dataset>/<manipulation>/<compression>`: that manipulation's
    fakes against the reals of the same dataset and compression (only fakes are split by manipulation).
    """
    groups: dict[str, np.ndarray] = {}
    ds = np.asarray([v.dataset for v in videos])
    comp = np.asarray([v.compression for v in videos])
    manip = np.asarray([v.manipulation for v in videos])
    label = np.asarray([v.label for v in videos])
    for d in sorted(set(ds.tolist())):
        groups[d] = ds == d
        fakes = sorted({(str(m), str(c)) for m, c, dd, y in zip(manip, comp, ds, label, strict=True)
                        if dd == d and y == 1})
        for m, c in fakes:
            reals = (ds == d) & (comp == c) & (label == 0)
            groups[f"{d}/{m}/{c}"] = reals | ((ds == d) & (comp == c) & (manip == m) & (label == 1))
    return groups


def auc_interval_fields(labels: np.ndarray, scores: np.ndarray, bootstrap: BootstrapSettings) -> dict[str, Any]:
    """auc_lo / auc_hi of the stratified bootstrap interval; NaN with `auc_ci_note` below 2 videos of a class."""
    if not enough_per_class(labels):
        return {"auc_lo": math.nan, "auc_hi": math.nan,
                "auc_ci_note": f"no interval: needs {MIN_PER_CLASS} real and {MIN_PER_CLASS} fake videos"}
    ci = bootstrap_auc_interval(labels, scores, bootstrap.seed, bootstrap.resamples, bootstrap.confidence)
    return {"auc_lo": ci.lo, "auc_hi": ci.hi}


def accuracy_fields(labels: np.ndarray, scores: np.ndarray, thresholds: Mapping[str, float]) -> dict[str, float]:
    """acc@fpr<X> and bacc@fpr<X> at each threshold calibrated on validation reals at FPR X."""
    acc, bacc = accuracies_at(labels, scores, thresholds)
    return {f"{name}@fpr{key}": values[key] for key in thresholds for name, values in (("acc", acc), ("bacc", bacc))}


def group_metrics(videos: Sequence[ScoredVideo], scorers: Sequence[str], fpr_targets: Sequence[float],
                  reference: bool, bootstrap: BootstrapSettings | None = None,
                  thresholds: Thresholds | None = None,
                  groups: Mapping[str, np.ndarray] | None = None) -> GroupMetrics:
    """group -> scorer -> metrics over the group's videos that this scorer could score.

    With `bootstrap`, every ROC-AUC gets its interval (auc_lo, auc_hi); with `thresholds`, accuracy and
    balanced accuracy at each of the scorer's calibrated thresholds. `groups` (name -> mask) defaults to
    `evaluation_groups(videos)`.
    """
    out: GroupMetrics = {}
    for group, mask in (evaluation_groups(videos) if groups is None else groups).items():
        out[group] = {}
        for s in scorers:
            chosen = [v for v, m in zip(videos, mask, strict=True) if m and v.scores.get(s) is not None]
            labels = np.asarray([v.label for v in chosen], dtype=np.int64)
            scores = np.asarray([v.scores[s] for v in chosen], dtype=np.float64)
            m = detection_metrics(labels, scores, list(fpr_targets), reference)
            if bootstrap is not None:
                m.update(auc_interval_fields(labels, scores, bootstrap))
            if thresholds and s in thresholds:
                m.update(accuracy_fields(labels, scores, thresholds[s]))
            m["n_unscored"] = int(mask.sum()) - len(chosen)
            out[group][s] = m
    return out


def mean_dataset_auc(metrics: GroupMetrics, scorer: str) -> float | None:
    """The mean ROC-AUC of `scorer` over whole datasets (groups without a '/'), None where it has none."""
    aucs = [by[scorer]["auc"] for group, by in metrics.items()
            if "/" not in group and scorer in by and not math.isnan(by[scorer]["auc"])]
    return float(np.mean(aucs)) if aucs else None
