"""Test reals the run has already seen: DeeperForensics-1.0 takes its reals from the FF++ originals, so a test
real may be a video stage 1 or the heads trained on (data config `reals_of: <adapter>`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from data_modules.records import REAL, IndexRow
from src.evaluation.identities import TRAINING_SPLITS


@dataclass(frozen=True)
class SeenReals:
    """Test rows kept, and the ids of the test reals dropped because the run trained on their original."""

    kept: list[IndexRow]
    dropped: list[str]


def drop_seen_reals(test_rows: Sequence[IndexRow], train_rows: Sequence[IndexRow]) -> SeenReals:
    """Drop the test reals whose original (target_id) is a train or val real of the training dataset."""
    seen = {r.target_id for r in train_rows if r.label == REAL and r.split in TRAINING_SPLITS and r.target_id}
    dropped = [r.video_id for r in test_rows if r.label == REAL and r.target_id in seen]
    gone = set(dropped)
    return SeenReals([r for r in test_rows if r.video_id not in gone], dropped)
