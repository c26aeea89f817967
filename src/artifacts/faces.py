"""The face-cache artifact (`faces/<face_cache_key>`): built by preprocessing, opened by every later stage."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data_modules.cache import FaceCache
from data_modules.io import to_plain
from data_modules.preprocess.detectors import check_face_config
from data_modules.preprocess.shards import SHARD_KEYS, ShardSpec, claim_merge, read_parts
from data_modules.preprocess.writer import (
    SUMMARY_FILE,
    FaceCacheSummary,
    write_face_cache,
    write_face_cache_shard,
)
from data_modules.sources import list_videos, prepared_frames_of
from src.artifacts.keys import face_cache_key
from src.artifacts.store import COMPLETE_MARKER, ArtifactStore

log = logging.getLogger(__name__)
KIND = "faces"


@dataclass(frozen=True)
class FaceCacheResult:
    """A face cache: where it is, what building it counted, whether it was reused, and, for one shard of a
    build, whether the cache is complete yet and which shards have still to finish."""

    cache_dir: Path
    summary: FaceCacheSummary
    reused: bool
    complete: bool = True
    pending_shards: tuple[int, ...] = ()


def build_face_cache(store: ArtifactStore, data_cfg: DictConfig | Mapping[str, Any],
                     face_cfg: DictConfig | Mapping[str, Any], splits: tuple[str, ...] | None = None
                     ) -> FaceCacheResult:
    """Build (or resume, or reuse) the face cache of one dataset with one detector configuration, of every
    video or only those of `splits` (a perturbed copy of the test videos).

    With `face.shard=i face.num_shards=n` only shard i's videos are cached and recorded; the shard that finds
    every other one finished merges them (a run without face.shard merges too, doing any missing videos).
    The final build holds the artifact's lock: a second process building the same cache waits, then reuses it."""
    data = data_cfg if isinstance(data_cfg, DictConfig) else OmegaConf.create(to_plain(data_cfg))
    face = to_plain(face_cfg)
    shard = ShardSpec.from_face_config(face)
    key = face_cache_key(data, OmegaConf.create(face), splits)
    if _whole(store, key):
        return _reuse(store, key, data.name)
    if prepared_frames_of(data) is None:
        check_face_config(face)
    records = [r for r in list_videos(data) if splits is None or r.split in splits]
    if shard.sharded:  # shards of one build work side by side; only the merge below takes the lock
        waiting = _build_shard(store, key, records, face, data, shard)
        if waiting is not None:
            return waiting
    face_meta = {k: v for k, v in face.items() if k not in SHARD_KEYS}
    meta = {"dataset": data.name, "data": to_plain(data), "face": face_meta,
            "splits": list(splits) if splits is not None else None}
    with store.lock(KIND, key):
        if _reusable(store, key):
            return _reuse(store, key, data.name)
        with store.build(KIND, key, meta=meta) as work:
            summary = write_face_cache(records, work, face, data)
    log.info("face cache %s -> %s", data.name, store.path(KIND, key))
    return FaceCacheResult(store.path(KIND, key), summary, reused=False)


def _whole(store: ArtifactStore, key: str) -> bool:
    """True for a complete cache whose `ok` videos are all whole on disk."""
    return store.is_complete(KIND, key) and not FaceCache(store.path(KIND, key)).missing_videos()


def _reusable(store: ArtifactStore, key: str) -> bool:
    """`_whole`, under the artifact's lock; a complete cache with missing videos goes back to being a partial
    build, so the build that follows redoes only those (deleting a video's folder rebuilds it)."""
    if not store.is_complete(KIND, key):
        return False
    final = store.path(KIND, key)
    missing = FaceCache(final).missing_videos()
    if not missing:
        return True
    log.warning("face cache %s is complete but %d videos are missing or damaged (e.g. %s): rebuilding them",
                final, len(missing), missing[0])
    partial = store.partial_path(KIND, key)
    shutil.rmtree(partial, ignore_errors=True)
    (final / COMPLETE_MARKER).unlink()
    os.replace(final, partial)
    return False


def _reuse(store: ArtifactStore, key: str, name: str) -> FaceCacheResult:
    final = store.path(KIND, key)
    summary = FaceCacheSummary.read(final / SUMMARY_FILE)
    log.info("face cache of %s is complete at %s (%d ok, %d skipped): reusing it", name, final,
             summary.ok, summary.skipped)
    return FaceCacheResult(final, summary, reused=True)


def _build_shard(store: ArtifactStore, key: str, records: list, face: dict[str, Any], data: DictConfig,
                 shard: ShardSpec) -> FaceCacheResult | None:
    """Cache one shard into the shared work directory; None when this shard is the one to merge them all."""
    work = store.partial_path(KIND, key)
    work.mkdir(parents=True, exist_ok=True)
    summary = write_face_cache_shard(records, work, face, data, shard)
    missing = read_parts(work).missing(shard)
    if missing:
        log.info("face cache %s: shard %s done; waiting for shards %s", data.name, shard.name, missing)
        return FaceCacheResult(work, summary, reused=False, complete=False, pending_shards=tuple(missing))
    if not claim_merge(work):
        log.info("face cache %s: shard %s done; another shard is merging (if that one was killed, run once "
                 "without face.shard to merge)", data.name, shard.name)
        return FaceCacheResult(work, summary, reused=False, complete=False)
    log.info("face cache %s: all %d shards done, merging", data.name, shard.count)
    return None


def open_face_cache(store: ArtifactStore, data: DictConfig, face: DictConfig,
                    splits: tuple[str, ...] | None = None) -> FaceCache:
    """The finished face cache of `data`, or a clear error saying to run preprocess."""
    return FaceCache(store.require(KIND, face_cache_key(data, face, splits), made_by="preprocess"))
