"""What evaluation knows about one test video: its identity, label, frame and pair counts, and its scores."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScoredVideo:
    """One test video; `scores` maps scorer -> video score (None where that scorer could not score it, with
    `reason` saying why); `frame_scores` are the classifier's per-frame P(fake), `pair_scores` each head's
    per-pair scores (the samples of the frame- and pair-level metrics)."""

    video_id: str
    label: int
    dataset: str
    manipulation: str
    compression: str
    num_frames: int = 0
    num_pairs: int = 0
    reason: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    frame_scores: list[float] = field(default_factory=list)
    pair_scores: dict[str, list[float]] = field(default_factory=dict)
