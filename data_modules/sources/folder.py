"""Your own data: <root>/real/<video or frame folder>, <root>/fake/<method>/<video or frame folder>."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data_modules.records import REAL_MANIPULATION, VideoRecord
from data_modules.sources.common import (
    RAW,
    SPLITS,
    DatasetLayoutError,
    dataset_root,
    empty_dataset_error,
    entry_path,
    hash_split,
    is_video_file,
    make_record,
    media_in,
    options_of,
    read_json_object,
)

log = logging.getLogger(__name__)

LAYOUT = """<root>/real/<name>.mp4 or <root>/real/<name>/<frames>.png ...          real videos (train/val/test)
<root>/fake/<method>/<name>.mp4 or <root>/fake/<method>/<name>/ ...      fakes (test unless splits.json says)
<root>/splits.json   optional: {"real/<name>.mp4": "train|val|test", ...}; without it reals are split by a
                     stable hash of the name (data.options.val_fraction, test_fraction)"""

SPLITS_SHAPE = '{"real/<name>.mp4": "train|val|test", ...}'


def _items(folder: Path) -> list[Path]:
    """Videos and frame folders directly inside `folder`; other entries are logged and left out."""
    items, ignored = media_in(folder)
    if ignored:
        log.warning("%s: %d entries are neither videos nor frame folders and are left out, e.g. %s",
                    folder, len(ignored), ignored[0].name)
    return items


def read_splits(root: Path) -> dict[str, str]:
    """The optional <root>/splits.json, checked."""
    path = root / "splits.json"
    if not path.is_file():
        return {}
    splits = read_json_object(path, SPLITS_SHAPE)
    for key in splits:
        entry_path(root, key, path)
    bad = {k: v for k, v in splits.items() if not isinstance(v, str) or v not in SPLITS}
    if bad:
        raise DatasetLayoutError(f"{path}: splits must be one of {SPLITS}; got {bad}")
    missing = [k for k in splits if not (root / k).exists()]
    if missing:
        log.warning("%s names %d paths that do not exist (they are left out), e.g. %s", path, len(missing), missing[0])
    return splits


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Reals from real/, fakes from fake/<method>/; the dataset name is data_cfg.name."""
    root = dataset_root(data_cfg, LAYOUT)
    opts = options_of(data_cfg)
    val_fraction, test_fraction = float(opts.get("val_fraction", 0.15)), float(opts.get("test_fraction", 0.3))
    splits = read_splits(root)
    groups = [(REAL_MANIPULATION, root / "real")]
    if (root / "fake").is_dir():
        groups += [(m.name, m) for m in sorted((root / "fake").iterdir()) if m.is_dir()]
    records = []
    for manipulation, folder in groups:
        if not folder.is_dir():
            continue
        for path in _items(folder):
            relative = path.relative_to(root).as_posix()
            name = path.stem if is_video_file(path) else path.name
            default = hash_split(name, val_fraction, test_fraction) if manipulation == REAL_MANIPULATION else "test"
            records.append(make_record(data_cfg["name"], manipulation, RAW, name, path, splits.get(relative, default)))
    if not records:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    return records
