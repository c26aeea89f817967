"""ForgeryNet video track: list files with a binary label and an optional manipulation type per video."""

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
    make_record,
    options_of,
    video_name,
)

LAYOUT = """<root>/Training/video_list.txt     lines "<relative path> <binary label 0|1> [<manipulation type>]"
<root>/Training/video/<relative path>   (train; val by a stable hash with data.options.val_fraction)
<root>/Validation/video_list.txt   same format; used as the test split, as in the literature
<root>/Validation/video/<relative path>"""

PARTS = {"Training": "train", "Validation": "test"}


def _parse_list(path: Path) -> list[tuple[str, int, str]]:
    """(relative path, label, manipulation type or '') per line of a ForgeryNet list file."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or parts[1] not in ("0", "1"):
            raise DatasetLayoutError(f"{path}:{number}: expected '<path> <0|1> [<type>]', got '{line}'")
        rows.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return rows


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Training list -> train/val, Validation list -> test; fakes named by manipulation type when given."""
    root = dataset_root(data_cfg, LAYOUT)
    val_fraction = float(options_of(data_cfg).get("val_fraction", 0.1))
    records = []
    for part, split in PARTS.items():
        list_path = root / part / "video_list.txt"
        if not list_path.is_file():
            continue
        for relative, label, kind in _parse_list(list_path):
            manipulation = REAL_MANIPULATION if label == 0 else f"type{kind}" if kind and kind != "0" else "fake"
            name = video_name(relative)
            path = entry_path(root / part / "video", relative, list_path)
            records.append(make_record(data_cfg["name"], manipulation, RAW, name, path,
                                       split if split == "test" else hash_split(name, val_fraction)))
    if not records:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    return records
