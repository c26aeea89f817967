"""FaceForensics++: originals and the manipulated sequences, split by the official pair lists."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data_modules.records import REAL_MANIPULATION, VideoRecord
from data_modules.sources.common import (
    SPLITS,
    DatasetLayoutError,
    dataset_root,
    empty_dataset_error,
    is_video_file,
    make_record,
    options_of,
)
from data_modules.sources.identities import ffpp_ids

log = logging.getLogger(__name__)

LAYOUT = """<root>/original_sequences/youtube/<c0|c23|c40>/videos/000.mp4 ...
<root>/original_sequences/actors/<c>/videos/01__exit_phone_room.mp4 ...   (only for DeepFakeDetection)
<root>/manipulated_sequences/<Deepfakes|Face2Face|FaceSwap|NeuralTextures|FaceShifter>/<c>/videos/000_003.mp4 ...
<root>/manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__exit_phone_room__YVGY8LOK.mp4 ...
<root>/splits/train.json, val.json, test.json   (official pair lists: [["000", "003"], ...])"""

PAIRED_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
DFD = "DeepFakeDetection"


def read_official_pairs(root: Path) -> list[tuple[str, str, str]]:
    """(target, source, split) for every official pair, from <root>/splits/{train,val,test}.json."""
    pairs = []
    for split in SPLITS:
        path = root / "splits" / f"{split}.json"
        if not path.is_file():
            raise DatasetLayoutError(f"FF++ split file {path} is missing; copy the official splits "
                                     f"(FaceForensics repository, dataset/splits/*.json) there. Layout:\n{LAYOUT}")
        try:
            listed = [(str(a), str(b)) for a, b in json.loads(path.read_text())]
        except (json.JSONDecodeError, TypeError, ValueError) as err:
            raise DatasetLayoutError(f"FF++ split file {path} must be a JSON list of id pairs "
                                     f'like [["000", "003"], ...]: {err}') from None
        for a, b in listed:  # ids become file names: one that is a path could leave the dataset
            for video_id in (a, b):
                if not video_id or Path(video_id).name != video_id or video_id in (".", ".."):
                    raise DatasetLayoutError(f"{path}: entry '{video_id}' is not a video id like '000' (no "
                                             "folders, no '..'): fix that entry")
        pairs += [(a, b, split) for a, b in listed]
    return pairs


def _videos_dir(root: Path, *parts: str) -> Path:
    folder = root.joinpath(*parts, "videos")
    if not folder.is_dir():
        raise DatasetLayoutError(f"FF++ folder {folder} is missing: download it, or drop it from "
                                 f"data.options (manipulations / compressions). Layout:\n{LAYOUT}")
    return folder


def _paired_records(name: str, root: Path, method: str, comp: str,
                    pairs: list[tuple[str, str, str]]) -> list[VideoRecord]:
    """Records of one split-listed method: reals 'a' and 'b', fakes 'a_b' and 'b_a' for each official pair."""
    real = method == "youtube"
    folder = _videos_dir(root, "original_sequences" if real else "manipulated_sequences", method, comp)
    expected: dict[str, tuple[str, str, str]] = {}  # stem -> (target, source, split)
    for a, b, split in pairs:
        for target, source in ((a, b), (b, a)):
            stem = target if real else f"{target}_{source}"
            expected[stem] = (target, target if real else source, split)
    unsplit = {p.stem for p in folder.iterdir() if is_video_file(p)} - set(expected)
    if unsplit:
        log.warning("FF++ %s/%s: %d videos are in no official split and are left out, e.g. %s",
                    method, comp, len(unsplit), sorted(unsplit)[0])
    return [make_record(name, REAL_MANIPULATION if real else method, comp, stem, folder / f"{stem}.mp4", split,
                        source_id=source, target_id=target)
            for stem, (target, source, split) in sorted(expected.items())]


def _dfd_records(name: str, root: Path, comp: str) -> list[VideoRecord]:
    """DeepFakeDetection fakes and their actor originals: not in the official splits, so test only."""
    records = []
    for method, manipulation in (("actors", REAL_MANIPULATION), (DFD, DFD)):
        base = "original_sequences" if method == "actors" else "manipulated_sequences"
        for path in sorted(p for p in _videos_dir(root, base, method, comp).iterdir() if is_video_file(p)):
            source, target = ffpp_ids(path.stem)
            records.append(make_record(name, manipulation, comp, path.stem, path, "test",
                                       source_id=source, target_id=target))
    return records


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """FF++ videos for the configured compressions and manipulations (originals always included)."""
    root = dataset_root(data_cfg, LAYOUT)
    if not any(root.iterdir()):
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    opts = options_of(data_cfg)
    compressions = list(opts.get("compressions", ["c23"]))
    manipulations = list(opts.get("manipulations", PAIRED_METHODS))
    unknown = set(manipulations) - {*PAIRED_METHODS, DFD}
    if unknown:
        raise ValueError(f"unknown FF++ manipulation(s) {sorted(unknown)} in data.options.manipulations; "
                         f"valid: {', '.join((*PAIRED_METHODS, DFD))}")
    pairs = read_official_pairs(root)
    records: list[VideoRecord] = []
    for comp in compressions:
        for method in ("youtube", *[m for m in manipulations if m != DFD]):
            records += _paired_records(data_cfg["name"], root, method, comp, pairs)
        if DFD in manipulations:
            records += _dfd_records(data_cfg["name"], root, comp)
    return records
