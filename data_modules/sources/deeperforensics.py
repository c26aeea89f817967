"""DeeperForensics-1.0: manipulated videos per variant, with the FF++ originals they were made from as reals."""

from __future__ import annotations

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
    is_video_file,
    make_record,
    options_of,
)

LAYOUT = """<root>/manipulated_videos/<variant, e.g. end_to_end>/000_M101.mp4 ...   fake (target 000, source M101)
<root>/lists/splits/train.txt, val.txt, test.txt   (optional; lines "000_M101.mp4"; unlisted videos are test)
<ffpp_root>/original_sequences/youtube/<c>/videos/000.mp4 ...   reals: the FF++ targets (data.options.ffpp_root,
                                                                 null for fakes only; ffpp_compression, default c23)"""


def read_split_lists(root: Path) -> dict[str, str]:
    """Video stem -> split from <root>/lists/splits/*.txt (empty when the lists are absent)."""
    split_of = {}
    for split in SPLITS:
        path = root / "lists" / "splits" / f"{split}.txt"
        if path.is_file():
            split_of.update({Path(line.strip()).stem: split for line in path.read_text().splitlines() if line.strip()})
    return split_of


def _real_records(name: str, ffpp_root: Path, comp: str, fakes: list[VideoRecord]) -> list[VideoRecord]:
    """One real record per FF++ target video, in the split of the first fake made from it."""
    folder = ffpp_root / "original_sequences" / "youtube" / comp / "videos"
    if not folder.is_dir():
        raise DatasetLayoutError(f"DeeperForensics reals come from {folder}, which is missing: set "
                                 f"data.options.ffpp_root (null for fakes only). Layout:\n{LAYOUT}")
    split_of: dict[str, str] = {}
    for fake in fakes:
        split_of.setdefault(fake.target_id, fake.split)
    return [make_record(name, REAL_MANIPULATION, comp, target, folder / f"{target}.mp4", split,
                        source_id=target, target_id=target) for target, split in sorted(split_of.items())]


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Fakes of the configured variants (default end_to_end) plus their FF++ originals."""
    root = dataset_root(data_cfg, LAYOUT)
    opts = options_of(data_cfg)
    base = root / "manipulated_videos"
    variants = opts.get("variants") or (["end_to_end"] if (base / "end_to_end").is_dir() else
                                        sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else [])
    split_of = read_split_lists(root)
    fakes = []
    for variant in variants:
        folder = base / variant
        if not folder.is_dir():
            raise DatasetLayoutError(f"DeeperForensics variant folder {folder} is missing. Layout:\n{LAYOUT}")
        for path in sorted(p for p in folder.iterdir() if is_video_file(p)):
            target, _, source = path.stem.partition("_")
            fakes.append(make_record(data_cfg["name"], variant, RAW, path.stem, path, split_of.get(path.stem, "test"),
                                     source_id=source, target_id=target))
    if not fakes:
        raise empty_dataset_error(root, data_cfg["name"], LAYOUT)
    ffpp_root = opts.get("ffpp_root")
    reals = _real_records(data_cfg["name"], Path(ffpp_root), opts.get("ffpp_compression", "c23"), fakes) \
        if ffpp_root else []
    return fakes + reals
