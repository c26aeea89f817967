"""Evaluation groups: each dataset as a whole, and per manipulation and compression against matching reals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from src.evaluation.metrics import detection_metrics
from src.evaluation.videos import ScoredVideo

GroupMetrics = dict[str, dict[str, dict[str, Any]]]  # group -> scorer -> metric -> value


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


def group_metrics(videos: Sequence[ScoredVideo], scorers: Sequence[str], fpr_targets: Sequence[float],
                  reference: bool) -> GroupMetrics:
    """group -> scorer -> metrics over the group's videos that this scorer could score."""
    out: GroupMetrics = {}
    for group, mask in evaluation_groups(videos).items():
        out[group] = {}
        for s in scorers:
            chosen = [v for v, m in zip(videos, mask, strict=True) if m and v.scores.get(s) is not None]
            m = detection_metrics(np.asarray([v.label for v in chosen]), np.asarray([v.scores[s] for v in chosen]),
                                  list(fpr_targets), reference)
            m["n_unscored"] = int(mask.sum()) - len(chosen)
            out[group][s] = m
    return out


def mean_dataset_auc(metrics: GroupMetrics, scorer: str) -> float | None:
    """The mean ROC-AUC of `scorer` over whole datasets (groups without a '/'), None where it has none."""
    aucs = [by[scorer]["auc"] for group, by in metrics.items()
            if "/" not in group and scorer in by and not math.isnan(by[scorer]["auc"])]
    return float(np.mean(aucs)) if aucs else None
