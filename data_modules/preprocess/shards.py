"""Preprocessing split over machines: video i belongs to shard `stable_hash(video_id) mod num_shards`.

Every shard caches its videos into the same work directory (each video lands atomically) and then writes its part,
`shards/<shard>-of-<num_shards>.json` (every outcome of its videos), atomically. The final index and summary are
made from the parts, so a merged cache is the one an unsharded run writes; a run without a shard (or the shard
that finds every part present) does the merge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from data_modules.io import atomic_write_json, stable_hash
from data_modules.records import VideoRecord

SHARD_DIR = "shards"
SHARD_KEYS = ("shard", "num_shards")  # face settings that split the work, never change the cache
_MERGE_CLAIM = ".merging"


@dataclass(frozen=True)
class ShardSpec:
    """Which part of a dataset this process preprocesses: shard `index` of `count` (count 1: everything)."""

    index: int | None = None
    count: int = 1

    @classmethod
    def from_face_config(cls, face: dict) -> ShardSpec:
        """face.shard / face.num_shards, checked: 0 <= shard < num_shards."""
        count, index = face.get("num_shards"), face.get("shard")
        count = 1 if count is None else int(count)
        if count < 1:
            raise ValueError(f"face.num_shards must be >= 1, got {count}")
        if index is not None and not 0 <= int(index) < count:
            raise ValueError(f"face.shard={index} is outside 0..{count - 1}: pass face.shard=<0..{count - 1}> "
                             f"with face.num_shards={count} (e.g. face.shard=$SLURM_ARRAY_TASK_ID)")
        return cls(None if index is None or count == 1 else int(index), count)

    @property
    def sharded(self) -> bool:
        """True when this process does one shard, not the whole dataset."""
        return self.index is not None

    @property
    def name(self) -> str:
        """'<shard>-of-<num_shards>', the part file's stem."""
        return f"{self.index}-of-{self.count}"


def shard_of(video_id: str, num_shards: int) -> int:
    """The shard a video belongs to: the same on every machine, run and Python process."""
    return int(stable_hash(video_id, length=16), 16) % num_shards


def select_shard(records: Sequence[VideoRecord], shard: ShardSpec) -> list[VideoRecord]:
    """The records of `shard`, in their listed order (all of them when not sharded)."""
    if not shard.sharded:
        return list(records)
    return [r for r in records if shard_of(r.video_id, shard.count) == shard.index]


def write_part(work: Path, shard: ShardSpec, outcomes: Sequence[object], seconds: float) -> Path:
    """Record a finished shard: its videos' outcomes (dataclasses) and its build time, written atomically."""
    path = Path(work) / SHARD_DIR / f"{shard.name}.json"
    atomic_write_json(path, {"shard": shard.index, "num_shards": shard.count, "seconds": seconds,
                             "outcomes": [asdict(o) for o in outcomes]})
    return path


@dataclass(frozen=True)
class Parts:
    """What the part files in a work directory hold: outcomes by video id, and the shards' summed seconds."""

    outcomes: dict[str, dict]
    seconds: float
    shards_of: dict[int, set[int]]  # num_shards -> the shard indices that finished

    def missing(self, shard: ShardSpec) -> list[int]:
        """Shards of `shard.count` with no part yet."""
        return sorted(set(range(shard.count)) - self.shards_of.get(shard.count, set()))


def read_parts(work: Path) -> Parts:
    """Every part written under `work` (any shard count); the first part naming a video wins."""
    outcomes: dict[str, dict] = {}
    seconds, shards_of = 0.0, {}
    for path in sorted((Path(work) / SHARD_DIR).glob("*-of-*.json")):
        part = json.loads(path.read_text())
        seconds += float(part["seconds"])
        shards_of.setdefault(int(part["num_shards"]), set()).add(int(part["shard"]))
        for outcome in part["outcomes"]:
            outcomes.setdefault(outcome["video_id"], outcome)
    return Parts(outcomes, seconds, shards_of)


def claim_merge(work: Path) -> bool:
    """True for exactly one caller (an exclusively created file), so only one finished shard merges."""
    try:
        os.close(os.open(Path(work) / SHARD_DIR / _MERGE_CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
