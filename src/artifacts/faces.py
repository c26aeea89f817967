"""The face-cache artifact (`faces/<face_cache_key>`): built by preprocessing, opened by every later stage."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data_modules.cache import FaceCache
from data_modules.io import to_plain
from data_modules.preprocess.detectors import check_face_config
from data_modules.preprocess.writer import SUMMARY_FILE, FaceCacheSummary, write_face_cache
from data_modules.sources import list_videos, prepared_frames_of
from src.artifacts.keys import face_cache_key
from src.artifacts.store import ArtifactStore

log = logging.getLogger(__name__)
KIND = "faces"


@dataclass(frozen=True)
class FaceCacheResult:
    """A finished face cache: where it is, what building it counted, and whether it was reused."""

    cache_dir: Path
    summary: FaceCacheSummary
    reused: bool


def build_face_cache(store: ArtifactStore, data_cfg: DictConfig | Mapping[str, Any],
                     face_cfg: DictConfig | Mapping[str, Any]) -> FaceCacheResult:
    """Build (or resume, or reuse) the face cache of one dataset with one detector configuration."""
    data = data_cfg if isinstance(data_cfg, DictConfig) else OmegaConf.create(to_plain(data_cfg))
    face = to_plain(face_cfg)
    key = face_cache_key(data, OmegaConf.create(face))
    final = store.path(KIND, key)
    if store.is_complete(KIND, key):
        summary = FaceCacheSummary.read(final / SUMMARY_FILE)
        log.info("face cache of %s is complete at %s (%d ok, %d skipped): reusing it", data.name, final,
                 summary.ok, summary.skipped)
        return FaceCacheResult(final, summary, reused=True)
    if prepared_frames_of(data) is None:
        check_face_config(face)
    records = list_videos(data)
    with store.build(KIND, key, meta={"dataset": data.name, "data": to_plain(data), "face": face}) as work:
        summary = write_face_cache(records, work, face, data)
    log.info("face cache %s -> %s", data.name, final)
    return FaceCacheResult(final, summary, reused=False)


def open_face_cache(store: ArtifactStore, data: DictConfig, face: DictConfig) -> FaceCache:
    """The finished face cache of `data`, or a clear error saying to run preprocess."""
    return FaceCache(store.require(KIND, face_cache_key(data, face), made_by="preprocess"))
