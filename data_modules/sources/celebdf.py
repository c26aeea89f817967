"""Celeb-DF v2: real (Celeb-real, YouTube-real) and fake (Celeb-synthesis) videos; test split from the list file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data_modules.records import REAL_MANIPULATION, VideoRecord
from data_modules.sources.common import (
    RAW,
    DatasetLayoutError,
    dataset_root,
    empty_dataset_error,
    entry_path,
    hash_split,
    is_video_file,
    make_record,
    options_of,
)
from data_modules.sources.identities import celebdf_ids

LAYOUT = """<root>/Celeb-real/id0_0000.mp4 ...        real
<root>/YouTube-real/00000.mp4 ...         real
<root>/Celeb-synthesis/id0_id1_0000.mp4 ...   fake
<root>/List_of_testing_videos.txt         lines "<label> <folder>/<file>.mp4", label 1 = REAL, 0 = fake"""

FOLDERS = {"Celeb-real": REAL_MANIPULATION, "YouTube-real": REAL_MANIPULATION, "Celeb-synthesis": "Celeb-synthesis"}
TEST_LIST = "List_of_testing_videos.txt"


def read_test_list(path: Path) -> dict[str, int]:
    """Relative path -> our label (0 real, 1 fake) from the test list, whose own label 1 means real."""
    listed = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetLayoutError(f"{path}:{number}: expected '<0|1> <folder>/<file>.mp4', got '{line}'")
        entry_path(path.parent, parts[1], path)
        listed[parts[1]] = 1 - int(parts[0])
    return listed


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Listed test videos are split=test; every other video is train, or val by a stable hash."""
    root = dataset_root(data_cfg, LAYOUT)
    list_path = root / TEST_LIST
    if not list_path.is_file():
        if not any(root.iterdir()):
            raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
        raise DatasetLayoutError(f"Celeb-DF test list {list_path} is missing. Layout:\n{LAYOUT}")
    listed = read_test_list(list_path)
    val_fraction = float(options_of(data_cfg).get("val_fraction", 0.1))
    relatives = set(listed)
    for folder in FOLDERS:
        if (root / folder).is_dir():
            relatives |= {f"{folder}/{p.name}" for p in (root / folder).iterdir() if is_video_file(p)}
    records = []
    for relative in sorted(relatives):
        folder, _, filename = relative.partition("/")
        if folder not in FOLDERS:
            raise DatasetLayoutError(f"{list_path} names {relative}, outside {', '.join(FOLDERS)}")
        manipulation = FOLDERS[folder]
        if relative in listed and listed[relative] != (manipulation != REAL_MANIPULATION):
            raise DatasetLayoutError(f"{list_path} labels {relative} against its folder {folder}")
        stem = Path(filename).stem
        split = "test" if relative in listed else hash_split(stem, val_fraction)
        source, target = celebdf_ids(stem)
        records.append(make_record(data_cfg["name"], manipulation, RAW, stem, root / relative, split,
                                   source_id=source, target_id=target))
    if not records:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    return records
