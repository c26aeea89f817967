"""ForgeryNet video track: list files with a binary label and an optional manipulation type per video."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from omegaconf import DictConfig

from data_modules.records import FAKE, REAL, REAL_MANIPULATION, VideoRecord
from data_modules.sources.common import (
    RAW,
    VIDEO_EXTENSIONS,
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
<root>/Validation/video/<relative path>
data.options.test_lists=<dir>: <dir>/test_real.txt and test_fake.txt (one video folder per line, as the DiffFake
repository's Data/ForgeryNet/splits) keep only the listed Validation videos as the test set"""
TEST_LISTS = {REAL: "test_real.txt", FAKE: "test_fake.txt"}

log = logging.getLogger(__name__)

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


def folder_parts(entry: str) -> tuple[str, ...]:
    """A list entry or relative video path as the parts of its video's folder (a video file name dropped)."""
    path = PurePosixPath(entry.strip().replace("\\", "/"))
    parts = path.parts[:-1] if path.suffix.lower() in VIDEO_EXTENSIONS else path.parts
    return tuple(p for p in parts if p not in ("/", "."))


def read_test_lists(folder: Path) -> dict[tuple[str, ...], int]:
    """Video folder parts -> label from <folder>/test_real.txt and test_fake.txt."""
    listed: dict[tuple[str, ...], int] = {}
    for label, name in TEST_LISTS.items():
        path = folder / name
        if not path.is_file():
            raise DatasetLayoutError(f"data.options.test_lists: {path} is missing; it needs test_real.txt and "
                                     "test_fake.txt (the DiffFake repository's Data/ForgeryNet/splits; README: Data layout)")
        listed.update({folder_parts(line): label for line in path.read_text().splitlines() if line.strip()})
    return listed


def _listed(relative: str, listed: dict[tuple[str, ...], int]) -> tuple[tuple[str, ...], int] | None:
    """The list entry naming this video's folder (an entry may leave out leading folders), and its label."""
    parts = folder_parts(relative)
    for start in range(len(parts)):
        if parts[start:] in listed:
            return parts[start:], listed[parts[start:]]
    return None


def restrict_test(rows: list[tuple[str, VideoRecord]], folder: Path) -> list[VideoRecord]:
    """Keep the test records whose video folder the test lists name (labels must agree), and every other one."""
    listed = read_test_lists(folder)
    kept, found, dropped = [], set(), 0
    for relative, record in rows:
        if record.split != "test":
            kept.append(record)
            continue
        hit = _listed(relative, listed)
        if hit is None:
            dropped += 1
            continue
        if hit[1] != record.label:
            raise DatasetLayoutError(f"{folder}: {'/'.join(hit[0])} is listed as {'real' if hit[1] == REAL else 'fake'} "
                                     f"but {record.path} has label {record.label} in video_list.txt")
        found.add(hit[0])
        kept.append(record)
    if not found:
        raise DatasetLayoutError(f"data.options.test_lists: no entry of {folder}/test_*.txt names a Validation video "
                                 f"(e.g. '{'/'.join(next(iter(listed), ()))}'); the entries are video folders "
                                 "relative to Validation/video/")
    log.info("ForgeryNet test lists %s: %d of %d listed videos found, %d unlisted test videos left out",
             folder, len(found), len(listed), dropped)
    if len(found) < len(listed):
        missing = sorted(set(listed) - found)
        log.warning("ForgeryNet test lists: %d listed videos are not in Validation/video_list.txt, e.g. %s",
                    len(missing), "/".join(missing[0]))
    return kept


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Training list -> train/val, Validation list -> test (only the listed videos with data.options.test_lists);
    fakes named by manipulation type when given."""
    root = dataset_root(data_cfg, LAYOUT)
    options = options_of(data_cfg)
    val_fraction = float(options.get("val_fraction", 0.1))
    rows = []
    for part, split in PARTS.items():
        list_path = root / part / "video_list.txt"
        if not list_path.is_file():
            continue
        for relative, label, kind in _parse_list(list_path):
            manipulation = REAL_MANIPULATION if label == 0 else f"type{kind}" if kind and kind != "0" else "fake"
            name = video_name(relative)
            path = entry_path(root / part / "video", relative, list_path)
            rows.append((relative, make_record(data_cfg["name"], manipulation, RAW, name, path,
                                               split if split == "test" else hash_split(name, val_fraction))))
    if not rows:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    if options.get("test_lists"):
        return restrict_test(rows, Path(options["test_lists"]))
    return [record for _, record in rows]
