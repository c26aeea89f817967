"""Dataset adapters: `list_videos(data_cfg)` dispatches on data_cfg.adapter to one module per layout.

Each adapter module exposes `list_records(data_cfg) -> list[VideoRecord]` and `LAYOUT` (the README text of
its expected folder layout). An adapter whose dataset ships face crops with landmarks also exposes
`prepared_frames(record, data_cfg) -> list[PreparedFrame]`, and preprocessing reads those instead of
detecting faces. Adapters register lazily, so `demo` loads only when used.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from omegaconf import DictConfig

from data_modules.records import VideoRecord
from data_modules.registry import Registry
from data_modules.sources.common import DatasetLayoutError, PreparedFrame

log = logging.getLogger(__name__)

ADAPTERS: Registry[ModuleType] = Registry("data.adapter")
for _name in ("ffpp", "celebdf", "deeperforensics", "forgerynet", "dfdc", "deepfakebench", "folder", "demo"):
    ADAPTERS.add(_name, f"data_modules.sources.{_name}")

__all__ = ["ADAPTERS", "DatasetLayoutError", "PreparedFrame", "check_root", "list_videos", "prepared_frames_of"]

PreparedReader = Callable[[VideoRecord, Mapping[str, Any]], list[PreparedFrame]]


def prepared_frames_of(data_cfg: DictConfig | Mapping[str, Any]) -> PreparedReader | None:
    """The adapter's reader of the face crops its dataset ships, or None when faces must be detected."""
    return getattr(ADAPTERS.get(str(data_cfg["adapter"])), "prepared_frames", None)


def check_root(data_cfg: DictConfig | Mapping[str, Any], key: str = "data") -> None:
    """Raise DatasetLayoutError when the dataset's root folder is missing (adapters with BUILDS_ROOT make it)."""
    adapter = ADAPTERS.get(str(data_cfg["adapter"]))
    root = Path(str(data_cfg["root"]))
    if getattr(adapter, "BUILDS_ROOT", False) or root.is_dir():
        return
    what = "is not a folder" if root.exists() else "does not exist"
    raise DatasetLayoutError(f"{key}.root={root} {what}; set {key}.root=<the {data_cfg['name']} dataset folder> "
                             f"(expected layout: README, Data layout)")


def list_videos(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Every video of a dataset as VideoRecords sorted by video_id; ids are checked to be unique."""
    records = ADAPTERS.get(str(data_cfg["adapter"])).list_records(data_cfg)
    by_id: dict[str, VideoRecord] = {}
    for record in records:
        if record.video_id in by_id:
            raise DatasetLayoutError(f"two videos map to the id {record.video_id}: {by_id[record.video_id].path} "
                                     f"and {record.path}; rename one of them")
        by_id[record.video_id] = record
    out = [by_id[k] for k in sorted(by_id)]
    counts = Counter((r.split, "real" if r.label == 0 else "fake") for r in out)
    missing = [r.path for r in out if not Path(r.path).exists()]
    log.info("dataset %s: %d videos (%s)", data_cfg["name"], len(out),
             ", ".join(f"{s} {k}: {n}" for (s, k), n in sorted(counts.items())))
    if missing:
        log.warning("dataset %s: %d listed videos are missing on disk (they are indexed as skipped), e.g. %s",
                    data_cfg["name"], len(missing), missing[0])
    return out
