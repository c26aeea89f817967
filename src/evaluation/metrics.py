"""Video-level detection metrics on continuous scores (higher = fake; labels 0 real, 1 fake)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC on continuous scores."""
    return float(roc_auc_score(labels, scores))


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The error rate where the false-positive and false-negative rates cross (interpolated on the ROC)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.argmax(fnr <= fpr))  # first ROC point past the crossing
    if i == 0:
        return float(fpr[0])
    d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The highest true-positive rate at a threshold whose false-positive rate is <= target."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= target + 1e-12].max())


def reference_thresholded_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The reference code's "AUC": scores binarised at the best TEST threshold, then ROC-AUC.

    That equals the best balanced accuracy (TPR + TNR) / 2 and uses test labels to pick the threshold,
    so it is NOT a ROC-AUC; it is reported only for comparison with the paper's numbers.
    """
    fpr, tpr, thresholds = roc_curve(labels, scores)
    best = thresholds[int(np.argmax(tpr - fpr))]
    return float(roc_auc_score(labels, (np.asarray(scores) >= best).astype(np.int64)))


def detection_metrics(labels: np.ndarray, scores: np.ndarray, fpr_targets: list[float] = (0.01, 0.05),
                      reference: bool = True) -> dict[str, float | int | str]:
    """auc, ap, eer, tpr@fpr_X, (ref_thresholded_auc) and counts; NaN metrics with a reason if one class is missing."""
    labels, scores = np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)
    out: dict[str, float | int | str] = {"n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum())}
    names = ["auc", "ap", "eer", *[f"tpr@fpr{t:g}" for t in fpr_targets]] + (["ref_thresholded_auc"] if reference else [])
    if out["n_real"] == 0 or out["n_fake"] == 0:
        return {**out, **dict.fromkeys(names, math.nan), "note": "needs real and fake videos"}
    out.update(auc=roc_auc(labels, scores), ap=float(average_precision_score(labels, scores)),
               eer=equal_error_rate(labels, scores))
    for t in fpr_targets:
        out[f"tpr@fpr{t:g}"] = tpr_at_fpr(labels, scores, t)
    if reference:
        out["ref_thresholded_auc"] = reference_thresholded_auc(labels, scores)
    return out


def accuracy_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """Fraction classified correctly when score > threshold means fake."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    return float(((scores > threshold) == (labels == 1)).mean())


def balanced_accuracy_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """Mean of the true-positive and true-negative rates when score > threshold means fake."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    fake, real = labels == 1, labels == 0
    if not fake.any() or not real.any():
        raise ValueError(f"balanced accuracy needs real and fake items; got {real.sum()} real, {fake.sum()} fake")
    return float(((scores[fake] > threshold).mean() + (scores[real] <= threshold).mean()) / 2.0)


def accuracies_at(labels: np.ndarray, scores: np.ndarray,
                  thresholds: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy and balanced accuracy at each named threshold; NaN without samples or without both classes."""
    labels = np.asarray(labels)
    both = bool((labels == 0).any() and (labels == 1).any())
    acc = {k: accuracy_at(labels, scores, t) if labels.size else math.nan for k, t in thresholds.items()}
    bacc = {k: balanced_accuracy_at(labels, scores, t) if both else math.nan for k, t in thresholds.items()}
    return acc, bacc


@dataclass(frozen=True)
class FrameMetrics:
    """Frame-level metrics, every frame one sample (DeepfakeBench's frame AUC / AP / EER / ACC columns)."""

    auc: float
    ap: float
    eer: float
    acc: float
    balanced_acc: float
    threshold: float | None
    n_real: int
    n_fake: int
    note: str = ""


def frame_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float | None = None) -> FrameMetrics:
    """AUC, AP and EER over frames; ACC and balanced ACC at `threshold` (NaN without one).

    One class missing gives NaN metrics with a note. DeepfakeBench's ACC thresholds probabilities at 0.5;
    pass the threshold that suits these scores (e.g. `threshold_at_fpr` on validation reals).
    """
    labels, scores = np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)
    n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
    if n_real == 0 or n_fake == 0:
        return FrameMetrics(*[math.nan] * 5, threshold, n_real, n_fake, note="needs real and fake frames")
    acc, balanced = ((accuracy_at(labels, scores, threshold), balanced_accuracy_at(labels, scores, threshold))
                     if threshold is not None else (math.nan, math.nan))
    return FrameMetrics(roc_auc(labels, scores), float(average_precision_score(labels, scores)),
                        equal_error_rate(labels, scores), acc, balanced, threshold, n_real, n_fake)

