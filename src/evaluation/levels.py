"""Frame- and pair-level metrics beside the video-level ones: every frame (classifier) or pair (head) is a sample.

These are the columns DeepfakeBench's tables report at frame level. Accuracy uses the video-level thresholds
calibrated on validation reals; with eval.aggregate=mean a video score is the mean of these samples' scores,
so the thresholds are on the same scale (with max/topk they are stricter than a frame-level threshold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from src.evaluation.groups import Thresholds
from src.evaluation.metrics import accuracies_at, frame_metrics
from src.evaluation.videos import ScoredVideo

FRAME, PAIR = "frame", "pair"


@dataclass(frozen=True)
class LevelMetrics:
    """One scorer's metrics in one group with frames or pairs as samples; acc/bacc keyed by calibrated FPR."""

    group: str
    scorer: str
    level: str
    auc: float
    ap: float
    eer: float
    n_real: int
    n_fake: int
    acc: dict[str, float] = field(default_factory=dict)
    bacc: dict[str, float] = field(default_factory=dict)
    note: str = ""


def level_metrics(group: str, scorer: str, level: str, labels: np.ndarray, scores: np.ndarray,
                  thresholds: Mapping[str, float]) -> LevelMetrics:
    """AUC, AP, EER over the samples, accuracy and balanced accuracy at each threshold (NaN if a class is absent)."""
    m = frame_metrics(labels, scores)
    acc, bacc = accuracies_at(labels, scores, thresholds)
    note = m.note.replace("frames", f"{level}s")
    return LevelMetrics(group, scorer, level, m.auc, m.ap, m.eer, m.n_real, m.n_fake, acc, bacc, note)


def _samples(videos: Sequence[ScoredVideo], mask: np.ndarray, take) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of every sample (`take(video)` lists a video's sample scores) of the masked videos."""
    labels, scores = [], []
    for video, keep in zip(videos, mask, strict=True):
        if keep:
            values = take(video)
            scores += values
            labels += [video.label] * len(values)
    return np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def sample_level_metrics(videos: Sequence[ScoredVideo], groups: Mapping[str, np.ndarray], classifier: str,
                         heads: Sequence[str], thresholds: Thresholds | None = None) -> list[LevelMetrics]:
    """Per group: the classifier over frames, then each head over pairs."""
    thresholds = thresholds or {}
    out = []
    for group, mask in groups.items():
        labels, scores = _samples(videos, mask, lambda v: v.frame_scores)
        out.append(level_metrics(group, classifier, FRAME, labels, scores, thresholds.get(classifier, {})))
        for head in heads:
            labels, scores = _samples(videos, mask, lambda v, h=head: v.pair_scores.get(h, []))
            out.append(level_metrics(group, head, PAIR, labels, scores, thresholds.get(head, {})))
    return out
