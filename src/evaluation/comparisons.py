"""Paired comparisons of scorers on the same videos: DeLong's test of each scorer's AUC against the main one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from src.evaluation.delong import DeLongTest, delong_test
from src.evaluation.intervals import MIN_PER_CLASS, enough_per_class
from src.evaluation.videos import ScoredVideo


@dataclass(frozen=True)
class PairedComparison:
    """AUC(scorer) - AUC(reference) in one group over the videos both scored; `test` None with a `note` if too few
    (the test's own `note` says when its variance is zero)."""

    group: str
    scorer: str
    reference: str
    test: DeLongTest | None
    note: str = ""


def compare(group: str, videos: Sequence[ScoredVideo], scorer: str, reference: str,
            confidence: float) -> PairedComparison:
    """DeLong's test on the videos both scorers could score."""
    both = [v for v in videos if v.scores.get(scorer) is not None and v.scores.get(reference) is not None]
    labels = np.asarray([v.label for v in both], dtype=np.int64)
    if not enough_per_class(labels):
        return PairedComparison(group, scorer, reference, None,
                                f"needs {MIN_PER_CLASS} real and {MIN_PER_CLASS} fake videos scored by both")
    scores = [np.asarray([v.scores[s] for v in both], dtype=np.float64) for s in (scorer, reference)]
    return PairedComparison(group, scorer, reference, delong_test(labels, *scores, confidence=confidence))


def paired_comparisons(videos: Sequence[ScoredVideo], groups: Mapping[str, np.ndarray], scorers: Sequence[str],
                       reference: str, confidence: float = 0.95) -> list[PairedComparison]:
    """Every other scorer against `reference` in each group."""
    out = []
    for group, mask in groups.items():
        chosen = [v for v, keep in zip(videos, mask, strict=True) if keep]
        out += [compare(group, chosen, s, reference, confidence) for s in scorers if s != reference]
    return out
