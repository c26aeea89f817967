"""Helpers shared by the dataset adapters: file kinds, stable hash splits, record building, layout errors."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from omegaconf import DictConfig

from data_modules.io import to_plain
from data_modules.records import FAKE, REAL, REAL_MANIPULATION, VideoRecord

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "val", "test")
RAW = "raw"
_DRIVE = re.compile(r"^[A-Za-z]:/")


class DatasetLayoutError(ValueError):
    """A dataset folder that does not match the layout its adapter expects."""


@dataclass(frozen=True)
class PreparedFrame:
    """A face crop a dataset ships ready-made: source frame number, image file and landmark file (.npy)."""

    number: int
    image: Path
    landmarks: Path


def options_of(data_cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The adapter options of a data config as a plain dict."""
    return dict(to_plain(data_cfg.get("options") or {}))


def dataset_root(data_cfg: DictConfig | Mapping[str, Any], layout: str) -> Path:
    """The dataset root, or a DatasetLayoutError naming the folder and the expected layout."""
    root = Path(str(data_cfg["root"]))
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder {root} does not exist (data.root of '{data_cfg['name']}'); "
                                 f"expected layout:\n{layout}")
    return root


def entry_path(root: Path, entry: object, source: Path) -> Path:
    """root / entry for a path that a list or metadata file names, or a DatasetLayoutError naming the entry
    when it would leave the root (absolute, or climbing out with '..')."""
    text = str(entry).replace("\\", "/")
    if not text or text.startswith("/") or _DRIVE.match(text) or ".." in PurePosixPath(text).parts:
        raise DatasetLayoutError(f"{source}: entry '{entry}' is not a path inside {root}; list files name "
                                 "videos relative to the dataset root, without '..': fix that entry")
    return root / text


def read_json_object(path: Path, shape: str) -> dict:
    """A JSON file whose top level must be an object, or a one-line DatasetLayoutError giving the shape."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{path} is not valid JSON ({err}); expected {shape}") from None
    if not isinstance(value, dict):
        raise DatasetLayoutError(f"{path} holds a JSON {type(value).__name__}; expected {shape}")
    return value


def empty_dataset_error(root: Path, name: str, layout: str) -> DatasetLayoutError:
    """The error for a dataset folder in which the adapter found no video at all."""
    return DatasetLayoutError(f"no videos found for dataset '{name}' in {root}; expected layout:\n{layout}")


def is_video_file(path: Path) -> bool:
    """A regular file with a video extension, or a broken link with one (skipped later with its reason)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS and (path.is_file() or is_broken_link(path))


def is_broken_link(path: Path) -> bool:
    """A symbolic link whose target is gone: listed like a video so that it is counted, not silently lost."""
    return path.is_symlink() and not path.exists()


def is_frame_folder(path: Path) -> bool:
    """A directory holding at least one image file."""
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir() if p.is_file())


def media_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """(videos and frame folders directly inside `folder`, every other entry), both sorted by name."""
    items, other = [], []
    for path in sorted(folder.iterdir()):
        (items if is_video_file(path) or is_frame_folder(path) else other).append(path)
    return items, other


def find_media(path: Path) -> list[Path]:
    """A video file, a frame folder, or every video / frame folder directly inside a folder."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"video path {path} does not exist")
    if is_frame_folder(path):
        return [path]
    found, _ = media_in(path)
    if not found:
        raise FileNotFoundError(f"no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or frame folders in {path}")
    return found


def hash_fraction(name: str) -> float:
    """A stable number in [0, 1) derived from a name (same on every machine)."""
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000


def hash_split(name: str, val_fraction: float, test_fraction: float = 0.0) -> str:
    """train / val / test by a stable hash of `name`."""
    u = hash_fraction(name)
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def video_name(relative: str) -> str:
    """A video id's last part from a relative path: extension dropped, folders joined by '__'."""
    path = Path(relative)
    return "__".join([*path.parent.parts, path.stem] if path.suffix.lower() in VIDEO_EXTENSIONS
                     else path.parts)


def make_record(dataset: str, manipulation: str, compression: str, name: str, path: Path, split: str,
                source_id: str = "", target_id: str = "") -> VideoRecord:
    """A VideoRecord with its id `dataset/manipulation/compression/name`; real iff manipulation is 'real'."""
    if split not in SPLITS:
        raise ValueError(f"split of {path} must be one of {SPLITS}, got '{split}'")
    label = REAL if manipulation == REAL_MANIPULATION else FAKE
    return VideoRecord(video_id=f"{dataset}/{manipulation}/{compression}/{name}", path=str(path), label=label,
                       dataset=dataset, manipulation=manipulation, compression=compression, split=split,
                       source_id=source_id, target_id=target_id)
