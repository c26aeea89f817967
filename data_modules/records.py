"""What the data layer says about a video: its record, its index row after preprocessing, labels, statuses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

REAL, FAKE = 0, 1
REAL_MANIPULATION = "real"
STATUS_OK, STATUS_SKIPPED = "ok", "skipped"


@dataclass(frozen=True)
class VideoRecord:
    """One video as a dataset adapter yields it. video_id is `dataset/manipulation/compression/video`."""

    video_id: str
    path: str
    label: int
    dataset: str
    manipulation: str
    compression: str
    split: str
    source_id: str = ""
    target_id: str = ""


@dataclass(frozen=True)
class IndexRow:
    """One row of a dataset's index: the record plus what preprocessing made of it."""

    video_id: str
    label: int
    dataset: str
    manipulation: str
    compression: str
    split: str
    num_frames: int
    status: str
    reason: str
    path: str
    source_id: str = ""
    target_id: str = ""

    @classmethod
    def from_record(cls, record: VideoRecord, num_frames: int, status: str, reason: str = "") -> IndexRow:
        """Index row for `record` after preprocessing."""
        return cls(video_id=record.video_id, label=record.label, dataset=record.dataset,
                   manipulation=record.manipulation, compression=record.compression, split=record.split,
                   num_frames=num_frames, status=status, reason=reason, path=record.path,
                   source_id=record.source_id, target_id=record.target_id)

    @classmethod
    def from_strings(cls, row: dict[str, str]) -> IndexRow:
        """A row read back from CSV or JSON text, with its integer fields typed."""
        return cls(**{**row, "label": int(row["label"]), "num_frames": int(row["num_frames"])})

    @property
    def usable(self) -> bool:
        """Preprocessed with at least one face frame."""
        return self.status == STATUS_OK and self.num_frames > 0


INDEX_FIELDS = [f.name for f in fields(IndexRow)]


def select_rows(rows: Iterable[IndexRow], split: str | None = None, label: int | None = None,
                usable: bool = True) -> list[IndexRow]:
    """Rows of a split and label (None: any), only usable ones unless `usable` is False, in the given order."""
    return [r for r in rows if (split is None or r.split == split) and (label is None or r.label == label)
            and (not usable or r.usable)]
