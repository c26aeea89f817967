"""What evaluation knows about one test video: its identity, label, frame and pair counts, and its scores."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScoredVideo:
    """One test video; `scores` maps scorer -> video score (None where that scorer could not score it, with
    `reason` saying why)."""

    video_id: str
    label: int
    dataset: str
    manipulation: str
    compression: str
    num_frames: int = 0
    num_pairs: int = 0
    reason: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
