"""DFDC (labels.csv, metadata.json) and DFDC-Preview (dataset.json), chosen by data.options.preview."""

from __future__ import annotations

import csv
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
    make_record,
    options_of,
    read_json_object,
    video_name,
)

LAYOUT = """DFDC (data.options.preview=false):
  <root>/labels.csv (+ videos beside it or in videos/)    test set: columns filename,label (1 = fake)
  <root>/<any part>/metadata.json (+ videos)      training parts: {"x.mp4": {"label": "FAKE"|"REAL",
                                                   "split": "train", "original": "y.mp4"}}
DFDC-Preview (data.options.preview=true):
  <root>/dataset.json   {"<relative path>": {"label": "fake"|"real", "set": "train"|"test"}, ...}
  <root>/<relative path> (method_A/..., method_B/..., original_videos/...)"""
METADATA_SHAPE = '{"x.mp4": {"label": "FAKE"|"REAL", "split": "train", "original": "y.mp4"}, ...}'
PREVIEW_SHAPE = '{"<relative path>": {"label": "fake"|"real", "set": "train"|"test"}, ...}'


def _entries(path: Path, shape: str) -> list[tuple[str, dict]]:
    """(file name, its object) per key of a metadata JSON, sorted, each value checked to be an object."""
    entries = sorted(read_json_object(path, shape).items())
    for key, meta in entries:
        if not isinstance(meta, dict):
            raise DatasetLayoutError(f"{path}: entry '{key}' holds a {type(meta).__name__}, not an object; "
                                     f"expected {shape}")
    return entries


def _beside(index: Path, filename: str) -> Path:
    """A video next to its index file, or in a videos/ folder beside it (never outside that folder)."""
    folder = index.parent
    beside = entry_path(folder, filename, index)
    nested = folder / "videos" / filename
    return nested if not beside.exists() and nested.exists() else beside


def _label_csv_records(name: str, path: Path) -> list[VideoRecord]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"filename", "label"} <= set(rows[0]):
        raise DatasetLayoutError(f"{path} needs the columns filename,label; has {', '.join(rows[0])}")
    return [make_record(name, "fake" if int(float(r["label"])) == 1 else REAL_MANIPULATION, RAW,
                        Path(r["filename"]).stem, _beside(path, r["filename"]), "test") for r in rows]


def _metadata_records(name: str, path: Path, val_fraction: float) -> list[VideoRecord]:
    records = []
    for filename, meta in _entries(path, METADATA_SHAPE):
        fake = str(meta.get("label", "")).upper() == "FAKE"
        split = meta.get("split", "train")
        split = split if split in SPLITS and split != "train" else hash_split(Path(filename).stem, val_fraction)
        source = Path(meta.get("original") or "").stem if fake else Path(filename).stem
        records.append(make_record(name, "fake" if fake else REAL_MANIPULATION, RAW, Path(filename).stem,
                                   _beside(path, filename), split, source_id=source))
    return records


def _preview_records(name: str, root: Path, val_fraction: float) -> list[VideoRecord]:
    path = root / "dataset.json"
    if not path.is_file():
        raise DatasetLayoutError(f"DFDC-Preview index {path} is missing. Layout:\n{LAYOUT}")
    records = []
    for relative, meta in _entries(path, PREVIEW_SHAPE):
        fake = str(meta.get("label", "")).lower() == "fake"
        vid = video_name(relative)
        split = "test" if meta.get("set") == "test" else hash_split(vid, val_fraction)
        manipulation = Path(relative).parts[0] if fake else REAL_MANIPULATION
        records.append(make_record(name, manipulation, RAW, vid, entry_path(root, relative, path), split,
                                   target_id=str(meta.get("target_id", ""))))
    return records


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """DFDC test and training parts, or the Preview set, from their metadata files."""
    root = dataset_root(data_cfg, LAYOUT)
    opts = options_of(data_cfg)
    val_fraction = float(opts.get("val_fraction", 0.1))
    if opts.get("preview", False):
        records = _preview_records(data_cfg["name"], root, val_fraction)
    else:
        records = []
        for path in sorted(root.rglob("labels.csv")):
            records += _label_csv_records(data_cfg["name"], path)
        for path in sorted(root.rglob("metadata.json")):
            records += _metadata_records(data_cfg["name"], path, val_fraction)
    if not records:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    return records
