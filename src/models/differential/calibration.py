"""Calibration on validation data only: rank references, thresholds at target FPRs on validation reals, and
the weight of each head's rank-normalised fusion with the stage-1 classifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from data_modules.cli import UsageError

CLASSIFIER = "classifier"
VideoScores = dict[str, float | None]


def fusion_name(head: str) -> str:
    """Scorer name of the fusion of `head` with the classifier."""
    return f"fusion_{head}"


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
                  weights: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The weight with the best validation ROC-AUC (ties: the one closest to 0.5), and AUC per weight."""
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise ValueError("choosing the fusion weight needs validation reals and pseudo-fakes")
    aucs = {f"{w:g}": float(roc_auc_score(labels, fuse(head_rank, classifier_rank, w))) for w in weights}
    best = max(aucs.values())
    chosen = min((w for w in weights if aucs[f"{w:g}"] >= best - 1e-12), key=lambda w: (abs(w - 0.5), w))
    return float(chosen), aucs


def threshold_at_fpr(real_scores: np.ndarray, fpr: float) -> float:
    """Threshold flagging at most a fraction `fpr` of these real scores (score > threshold = fake)."""
    real_scores = np.sort(np.asarray(real_scores, dtype=np.float64))
    if real_scores.size == 0:
        raise ValueError("no real scores to set a threshold on")
    return float(np.quantile(real_scores, 1.0 - fpr, method="higher"))


@dataclass
class ScorerCalibration:
    """One scorer's validation reference scores (for rank fusion), thresholds by FPR key, validation AUC."""

    thresholds: dict[str, float]
    reference: list[float] | None = None
    val_auc: float | None = None


@dataclass
class FusionCalibration:
    """The weight of a head in its fusion with the classifier, and the validation AUC of each weight tried."""

    weight: float
    val_auc_by_weight: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass
class Calibration:
    """Everything set on validation data: per scorer, per fusion, and how much data it rests on."""

    scorers: dict[str, ScorerCalibration]
    fusion: dict[str, FusionCalibration]
    n_val_real: int
    n_val_pseudo_fake: int
    reference_split: str = "val"

    @property
    def on_training_reals(self) -> bool:
        """Thresholds and rank references set on training reals (the run had no validation reals): the heads
        were fit on these very videos, so their scores sit low and the thresholds flag more test reals."""
        return self.reference_split == "train"

    def to_json(self) -> dict[str, Any]:
        """calibration.json content, with the training-reals fallback spelled out as a flag."""
        return {**asdict(self), "thresholds_from_training_reals": self.on_training_reals}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of `to_json`."""
        return cls(scorers={k: ScorerCalibration(**v) for k, v in data["scorers"].items()},
                   fusion={k: FusionCalibration(**v) for k, v in data["fusion"].items()},
                   n_val_real=int(data["n_val_real"]), n_val_pseudo_fake=int(data["n_val_pseudo_fake"]),
                   reference_split=str(data.get("reference_split", "val")))

    def thresholds(self, fpr: float, source: str = "the run") -> dict[str, float]:
        """Every scorer's threshold at `fpr`, or an error naming the FPRs that were calibrated."""
        out = {}
        for name, entry in self.scorers.items():
            table = {float(k): v for k, v in entry.thresholds.items()}
            if fpr not in table:
                raise UsageError(f"fpr={fpr} was not calibrated in {source}; choose one of {sorted(table)} "
                                 "(eval.fpr_targets of the run)")
            out[name] = float(table[fpr])
        return out

    def add_fusions(self, scores: VideoScores, heads: Sequence[str]) -> None:
        """Add each head's fused score to a video's scores (where the head and the classifier both scored)."""
        for head in heads:
            if scores[head] is None or scores[CLASSIFIER] is None:
                continue
            ranks = [rank_normalise([scores[k]], self.scorers[k].reference)[0] for k in (head, CLASSIFIER)]
            scores[fusion_name(head)] = float(fuse(ranks[0], ranks[1], self.fusion[head].weight))

    def decide(self, scores: VideoScores) -> dict[str, dict[str, bool]]:
        """Fake if the video score is above the threshold set at each target FPR on validation reals."""
        return {name: {f"fpr{k}": bool(value > t) for k, t in self.scorers[name].thresholds.items()}
                for name, value in scores.items() if value is not None and name in self.scorers}


def _scorer_calibration(values: np.ndarray, labels: np.ndarray, fpr_targets: Sequence[float]) -> ScorerCalibration:
    return ScorerCalibration(
        reference=np.sort(values).tolist(),
        thresholds={f"{t:g}": threshold_at_fpr(values[labels == 0], t) for t in fpr_targets},
        val_auc=float(roc_auc_score(labels, values)) if len(set(labels.tolist())) == 2 else None)


def _fusion_calibration(head: str, video_scores: Sequence[VideoScores], labels: np.ndarray,
                        scorers: dict[str, ScorerCalibration], weights: Sequence[float]) -> FusionCalibration:
    keep = [i for i, v in enumerate(video_scores) if v[head] is not None and v[CLASSIFIER] is not None]
    ranks = {k: rank_normalise([video_scores[i][k] for i in keep], scorers[k].reference) for k in (head, CLASSIFIER)}
    lab = labels[keep]
    if len(set(lab.tolist())) < 2:
        return FusionCalibration(weight=0.5, note="no validation pseudo-fakes: equal weights")
    weight, aucs = choose_weight(lab, ranks[head], ranks[CLASSIFIER], weights)
    return FusionCalibration(weight=weight, val_auc_by_weight=aucs)


def calibrate(video_scores: Sequence[VideoScores], labels: Sequence[int], heads: Sequence[str],
              fpr_targets: Sequence[float], weights: Sequence[float], reference_split: str = "val") -> Calibration:
    """Reference scores, thresholds on reals and fusion weights from validation videos (reals 0, pseudo-fakes 1)."""
    labels_arr = np.asarray(labels)
    scorers: dict[str, ScorerCalibration] = {}
    for name in [*heads, CLASSIFIER]:
        scored = [(v[name], y) for v, y in zip(video_scores, labels, strict=True) if v[name] is not None]
        values, lab = np.asarray([s for s, _ in scored], dtype=np.float64), np.asarray([y for _, y in scored])
        if not (lab == 0).any():
            raise ValueError(f"calibration: no validation real video has a '{name}' score")
        scorers[name] = _scorer_calibration(values, lab, fpr_targets)
    fusion = {head: _fusion_calibration(head, video_scores, labels_arr, scorers, weights) for head in heads}
    cal = Calibration(scorers, fusion, n_val_real=int((labels_arr == 0).sum()),
                      n_val_pseudo_fake=int((labels_arr == 1).sum()), reference_split=reference_split)
    # fusion thresholds need the fused validation scores, so they come after the weights
    fused = [dict(v) for v in video_scores]
    for v in fused:
        cal.add_fusions(v, heads)
    for head in heads:
        name = fusion_name(head)
        real = np.asarray([v[name] for v, y in zip(fused, labels, strict=True) if y == 0 and v.get(name) is not None])
        if len(real):
            cal.scorers[name] = ScorerCalibration(thresholds={f"{t:g}": threshold_at_fpr(real, t) for t in fpr_targets})
    return cal
