"""The embedded demo set: media built (once, cached) under data.root, then listed by the folder adapter."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data_modules.demo import DemoOptions, build_demo_media
from data_modules.records import VideoRecord
from data_modules.sources import folder
from data_modules.sources.common import options_of

LAYOUT = """built automatically under data.root (default artifacts/demo_media) from face photos shipped in
installed packages: real/<identity>_<nn>.mp4, fake/landmark_swap/<source>_to_<target>.mp4, splits.json"""
BUILDS_ROOT = True  # data.root is made on first use, so a missing root is no error


def list_records(data_cfg: DictConfig | Mapping[str, Any]) -> list[VideoRecord]:
    """Build the demo media if missing, then the folder adapter's records with source/target identities."""
    manifest = build_demo_media(Path(str(data_cfg["root"])), DemoOptions.from_mapping(options_of(data_cfg)))
    by_path = {clip["path"]: clip for clip in manifest["clips"]}
    root = Path(str(data_cfg["root"]))
    records = []
    for record in folder.list_records(data_cfg):
        clip = by_path[Path(record.path).relative_to(root).as_posix()]
        records.append(dataclasses.replace(record, source_id=clip["source"] or clip["target"],
                                           target_id=clip["target"]))
    return records
