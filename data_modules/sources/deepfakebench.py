"""DeepfakeBench: its dataset JSONs and its preprocessed face crops with landmarks, read as they are shipped.

Preprocessing reads these crops (`prepared_frames`) instead of detecting faces, so results are on the very
frames DeepfakeBench's detectors are scored on.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from omegaconf import DictConfig

from data_modules.records import FAKE, REAL, REAL_MANIPULATION, VideoRecord
from data_modules.sources.common import (
    RAW,
    SPLITS,
    DatasetLayoutError,
    PreparedFrame,
    dataset_root,
    empty_dataset_error,
    hash_split,
    make_record,
    options_of,
)
from data_modules.sources.identities import celebdf_ids, ffpp_ids

log = logging.getLogger(__name__)

LAYOUT = """<root>/<Dataset>/.../frames/<video>/000.png ...     face crops (DeepfakeBench's datasets/rgb)
<root>/<Dataset>/.../landmarks/<video>/000.npy ...  [81,2] (or [68,2]) dlib points in crop pixels
<json_dir>/<dataset>.json   from DeepfakeBench's preprocessing/rearrange.py (default <root>/dataset_json):
  {"<dataset>": {"<label>": {"train|val|test": {["<c23|c40|raw>":] {"<video>": {"label": "<label>",
   "frames": ["<path relative to root>", ...]}}}}}}   compression level only for FF++-style datasets"""

SHAPE = ('{"<dataset>": {"<label>": {"train|val|test": {["<compression>":] {"<video>": '
         '{"label": "<label>", "frames": ["<path>", ...]}}}}}}')

# DeepfakeBench's label names (training/config/train_config.yaml, label_dict): 0 real, 1 fake.
LABELS = {
    **dict.fromkeys(("FF-real", "DFD_real", "CelebDFv1_real", "CelebDFv2_real", "DFDCP_Real", "DFDC_Real",
                     "DF_real", "UADFV_Real", "roop_Real"), REAL),
    **dict.fromkeys(("FF-DF", "FF-F2F", "FF-FS", "FF-NT", "FF-FH", "FF-SH", "DFD_fake", "CelebDFv1_fake",
                     "CelebDFv2_fake", "DFDCP_FakeA", "DFDCP_FakeB", "DFDC_Fake", "DF_fake", "UADFV_Fake",
                     "roop_Fake"), FAKE),
}
# Entry keys; rearrange.py leaves one bare {"label", "frames"} pair as DFDC's val split instead of videos.
ENTRY_KEYS = ("label", "frames", "masks")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Listing:
    """One listed video: its record and its frame paths relative to the root, in frame order."""

    record: VideoRecord
    frames: tuple[str, ...]


@dataclass(frozen=True)
class _Entry:
    group: str  # the JSON's label key
    label: str  # the entry's own label, which decides real or fake
    split: str
    compression: str | None  # None: the dataset has no compression level
    video: str
    frames: tuple[str, ...]


_PARSED: dict[tuple, dict[str, Listing]] = {}  # one parsed JSON per process, reused by prepared_frames


def json_path(data_cfg: DictConfig | Mapping[str, Any]) -> Path:
    """<json_dir>/<dataset>.json, json_dir defaulting to <root>/dataset_json."""
    opts = options_of(data_cfg)
    if not opts.get("dataset"):
        raise ValueError("data.options.dataset must name a DeepfakeBench dataset JSON, e.g. FaceForensics++, "
                         "Celeb-DF-v2, DFDC, DFDCP, DeeperForensics-1.0, UADFV, FaceShifter")
    json_dir = opts.get("json_dir") or Path(str(data_cfg["root"])) / "dataset_json"
    return Path(str(json_dir)) / f"{opts['dataset']}.json"


def frame_number(relative: str, position: int) -> int:
    """The source frame number DeepfakeBench uses as file name (000.png), else the position in the list."""
    stem = PurePosixPath(relative).stem
    return int(stem) if stem.isdigit() else position


def landmark_path(relative: str) -> str:
    """frames/<video>/000.png -> landmarks/<video>/000.npy (last 'frames' folder swapped, else beside it)."""
    parts = list(PurePosixPath(relative).parts)
    folders = [i for i, part in enumerate(parts[:-1]) if part == "frames"]
    if folders:
        parts[folders[-1]] = "landmarks"
    return str(PurePosixPath(*parts).with_suffix(".npy"))


def _frame_order(relative: str) -> tuple[int, int, str]:
    stem = PurePosixPath(relative).stem
    return (0, int(stem), relative) if stem.isdigit() else (1, 0, relative)


def _relative(raw: Any, prefix: str, source: Path, where: str) -> str:
    """A JSON frame path as a clean path relative to the root, or an error naming the entry."""
    if not isinstance(raw, str):
        raise DatasetLayoutError(f"{source}: frame {raw!r} of {where} is not a path string; expected {SHAPE}")
    text = raw.replace("\\", "/")
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    relative = posixpath.normpath(text) if text else ""
    absolute = text.startswith("/") or _DRIVE.match(text)
    if absolute or relative in ("", ".", "..") or relative.startswith("../"):
        raise DatasetLayoutError(f"{source}: frame path '{raw}' of {where} is not inside data.root; paths "
                                 "must be relative to it (data.options.strip_prefix drops a leading folder, "
                                 "e.g. /data/DeepfakeBench/datasets/rgb)")
    return relative


def _mapping(node: Any, source: Path, where: str) -> dict:
    if not isinstance(node, dict):
        raise DatasetLayoutError(f"{source}: {where} is a {type(node).__name__}, not an object; "
                                 f"expected {SHAPE}")
    return node


def _videos(node: dict, source: Path, where: str) -> Iterator[tuple[str | None, str, dict]]:
    """(compression, video, entry) under a split, with or without a compression level."""
    stray = [k for k, v in node.items() if k in ENTRY_KEYS and not isinstance(v, dict)]
    if stray:
        log.warning("%s: %s holds a bare %s instead of videos; ignored", source, where, "/".join(stray))
    for key, child in node.items():
        if key in stray:
            continue
        child = _mapping(child, source, f"{where}/{key}")
        if "frames" in child:
            yield None, key, child
            continue
        for video, entry in child.items():
            entry = _mapping(entry, source, f"{where}/{key}/{video}")
            if "frames" not in entry:
                raise DatasetLayoutError(f"{source}: {where}/{key}/{video} has no 'frames' list; "
                                         f"expected {SHAPE}")
            yield key, video, entry


def _entries(tree: dict, dataset: str, source: Path) -> Iterator[_Entry]:
    """Every (group, split, compression, video) entry of one dataset in a parsed JSON."""
    for group, splits in _mapping(tree[dataset], source, dataset).items():
        for split, node in _mapping(splits, source, f"{dataset}/{group}").items():
            where = f"{dataset}/{group}/{split}"
            if split not in SPLITS:
                raise DatasetLayoutError(f"{source}: {where} is not a split (train, val, test); "
                                         f"expected {SHAPE}")
            for compression, video, entry in _videos(_mapping(node, source, where), source, where):
                frames = entry["frames"]
                if not isinstance(frames, list):
                    raise DatasetLayoutError(f"{source}: 'frames' of {where}/{video} is not a list; "
                                             f"expected {SHAPE}")
                yield _Entry(group, str(entry.get("label", group)), split, compression, video, tuple(frames))


def _read_tree(source: Path, dataset: str) -> dict:
    try:
        tree = json.loads(source.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{source} is not valid JSON ({err}); expected {SHAPE}") from err
    if not isinstance(tree, dict) or dataset not in tree:
        keys = ", ".join(map(str, tree)) if isinstance(tree, dict) else type(tree).__name__
        raise DatasetLayoutError(f"{source} has no top-level key '{dataset}' (found: {keys}); "
                                 f"expected {SHAPE}")
    return tree


def identities(label: str, video: str) -> tuple[str, str]:
    """(source, target) for the datasets whose video names carry identities (FF++ family, Celeb-DF)."""
    if label.startswith(("FF-", "DFD_")) or label == "DF_fake":
        return ffpp_ids(video)
    return celebdf_ids(video) if label.startswith("CelebDF") else ("", "")


def _split(splits: set[str], video: str, has_val: bool, val_fraction: float) -> str:
    """Test wins (DeepfakeBench copies test videos into val and train); val only when listed nowhere else."""
    if "test" in splits:
        return "test"
    if "train" not in splits:
        return "val"
    return "train" if has_val else hash_split(video, val_fraction)


def _check_filter(name: str, wanted: list[str] | None, found: set[str], source: Path) -> None:
    unknown = sorted(set(wanted or ()) - found)
    if unknown:
        raise ValueError(f"data.options.{name} {unknown} are not in {source}; it has {sorted(found)}")


def _select(entries: Iterator[_Entry], opts: dict[str, Any], labels: dict[str, int], source: Path
            ) -> dict[tuple[str, str, str], dict[str, _Entry]]:
    """(group, compression, video) -> split -> entry for the entries the filters keep."""
    compressions, manipulations = opts.get("compressions"), opts.get("manipulations")
    found: dict[tuple[str, str, str], dict[str, _Entry]] = {}
    seen_compressions, seen_fakes = set(), set()
    for entry in entries:
        if entry.label not in labels:
            raise DatasetLayoutError(f"{source}: label '{entry.label}' of {entry.group}/{entry.video} is not "
                                     "a DeepfakeBench label; add it to data.options.labels as 0 (real) or "
                                     "1 (fake)")
        fake = labels[entry.label] == FAKE
        seen_fakes |= {entry.label} if fake else set()
        seen_compressions |= {entry.compression} if entry.compression else set()
        if (fake and manipulations is not None and entry.label not in manipulations) or (
                entry.compression and compressions is not None and entry.compression not in compressions):
            continue
        key = (entry.group, entry.compression or RAW, entry.video)
        found.setdefault(key, {}).setdefault(entry.split, entry)
    _check_filter("manipulations", manipulations, seen_fakes, source)
    if seen_compressions:  # the filter only applies to datasets with compression levels (FF++ style)
        _check_filter("compressions", compressions, seen_compressions, source)
    return found


def _listings(data_cfg: DictConfig | Mapping[str, Any], root: Path, source: Path) -> dict[str, Listing]:
    """Every selected video of the JSON's dataset, by video id."""
    opts = options_of(data_cfg)
    dataset = str(opts["dataset"])
    labels = {**LABELS, **{str(k): int(v) for k, v in (opts.get("labels") or {}).items()}}
    prefix = str(opts.get("strip_prefix") or "").replace("\\", "/").rstrip("/")
    prefix = f"{prefix}/" if prefix else ""
    found = _select(_entries(_read_tree(source, dataset), dataset, source), opts, labels, source)
    has_val = any(set(s) == {"val"} for s in found.values())
    val_fraction = float(opts.get("val_fraction", 0.1))
    out = {}
    for (_, compression, video), by_split in found.items():
        entry = next(by_split[s] for s in ("test", "val", "train") if s in by_split)
        where = "/".join(p for p in (dataset, entry.group, entry.split, entry.compression, video) if p)
        frames = tuple(sorted((_relative(f, prefix, source, where) for f in entry.frames), key=_frame_order))
        manipulation = entry.label if labels[entry.label] == FAKE else REAL_MANIPULATION
        path = root / PurePosixPath(frames[0]).parent if frames else source
        split = _split(set(by_split), video, has_val, val_fraction)
        record = make_record(str(data_cfg["name"]), manipulation, compression, video, path, split,
                             *identities(entry.label, video))
        out[record.video_id] = Listing(record, frames)
    return out


def listings(data_cfg: DictConfig | Mapping[str, Any]) -> dict[str, Listing]:
    """The parsed listing of a data config, read once per process while the JSON file is unchanged."""
    root = dataset_root(data_cfg, LAYOUT)
    if not any(root.iterdir()):
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    source = json_path(data_cfg)
    if not source.is_file():
        raise DatasetLayoutError(f"DeepfakeBench dataset JSON {source} is missing (data.options.dataset / "
                                 f"json_dir). Layout:\n{LAYOUT}")
    stat = source.stat()
    key = (str(source), stat.st_mtime_ns, stat.st_size, str(root), str(data_cfg["name"]),
           json.dumps(options_of(data_cfg), sort_keys=True, default=str))
    if key not in _PARSED:
        _PARSED.clear()
        _PARSED[key] = _listings(data_cfg, root, source)
    return _PARSED[key]


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Videos of one DeepfakeBench JSON; ids `<name>/<real | its fake label>/<compression | raw>/<video>`."""
    records = [listing.record for listing in listings(data_cfg).values()]
    if not records:
        raise empty_dataset_error(json_path(data_cfg), data_cfg["name"], LAYOUT)
    return records


def prepared_frames(record: VideoRecord, data_cfg: DictConfig | Mapping[str, Any]) -> list[PreparedFrame]:
    """The listed face crops of a video with their landmark files, in frame order."""
    root = Path(str(data_cfg["root"]))
    frames = listings(data_cfg)[record.video_id].frames
    return [PreparedFrame(frame_number(f, i), root / f, root / landmark_path(f))
            for i, f in enumerate(frames)]
