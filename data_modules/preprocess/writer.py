"""The face-cache writer: every video of a dataset through sampling, detection and cropping, in a worker pool.

Work happens in the artifact's .partial directory; each video lands atomically (FaceCache.write_video), so a
killed run resumes where it stopped and videos already cached are never redone or lost.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data_modules.cache import FaceCache
from data_modules.io import atomic_write_json
from data_modules.preprocess.detectors import FaceDetector, build_detector, check_face_config
from data_modules.preprocess.frames import VideoReadError, sample_frames
from data_modules.preprocess.prepared import read_prepared_track
from data_modules.preprocess.track import NO_FACE, extract_track
from data_modules.records import STATUS_OK, STATUS_SKIPPED, IndexRow, VideoRecord
from data_modules.sources import list_videos, prepared_frames_of
from src.stages.keys import face_cache_key
from src.utils.artifacts import ArtifactStore

log = logging.getLogger(__name__)

_DETECTORS: dict[str, FaceDetector] = {}


@dataclass(frozen=True)
class VideoOutcome:
    """What preprocessing made of one video."""

    video_id: str
    status: str
    reason: str = ""
    num_frames: int = 0
    frames_sampled: int = 0
    frames_without_face: int = 0
    resumed: bool = False


def _detector(face_cfg: dict[str, Any]) -> FaceDetector:
    """One detector per process and face config, built on first use."""
    key = json.dumps(face_cfg, sort_keys=True, default=str)
    if key not in _DETECTORS:
        _DETECTORS[key] = build_detector(face_cfg)
    return _DETECTORS[key]


def _no_face_reason(skipped: list[tuple[int, str]]) -> str:
    if all(reason == NO_FACE for _, reason in skipped):
        return NO_FACE
    return "no face (only faces smaller than face.min_face_px)"


def process_video(record: VideoRecord, cache_root: str, face_cfg: dict[str, Any], frames_per_video: int,
                  data_cfg: dict[str, Any] | None = None) -> VideoOutcome:
    """Sample, detect (or read the dataset's crops), crop and write one video; a cached video is kept."""
    cache = FaceCache(cache_root)
    if cache.has_video(record.video_id):
        return VideoOutcome(record.video_id, STATUS_OK, num_frames=int(cache.read_record(record.video_id)["num_frames"]),
                            resumed=True)
    prepared = prepared_frames_of(data_cfg) if data_cfg else None
    detector = None if prepared else _detector(face_cfg)  # a broken detector is a config error, not a skip
    try:
        if prepared:
            track = read_prepared_track(prepared(record, data_cfg), frames_per_video)
        else:
            track = extract_track(sample_frames(record.path, frames_per_video), detector, face_cfg)
    except VideoReadError as err:
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=str(err))
    except Exception as err:  # one odd video must not stop a dataset; it is counted with its reason
        log.warning("unexpected error on %s (%s)", record.path, record.video_id, exc_info=True)
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=f"error: {type(err).__name__}: {err}")
    without = sum(1 for _, reason in track.skipped if reason == NO_FACE)
    sampled = len(track.crops) + len(track.skipped)
    if not track.crops:
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=_no_face_reason(track.skipped),
                            frames_sampled=sampled, frames_without_face=without)
    cache.write_video(record, track, str(face_cfg.get("image_format", "png")), int(face_cfg.get("jpeg_quality", 95)))
    return VideoOutcome(record.video_id, STATUS_OK, num_frames=len(track.crops), frames_sampled=sampled,
                        frames_without_face=without)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _outcomes(records: list[VideoRecord], cache_root: Path, face_cfg: dict[str, Any], frames_per_video: int,
              workers: int, data_cfg: dict[str, Any]) -> Iterator[VideoOutcome]:
    """Outcomes as videos finish: in this process for workers <= 0, else in a spawned process pool."""
    args = (str(cache_root), face_cfg, frames_per_video, data_cfg)
    if workers <= 0:
        for record in records:
            yield process_video(record, *args)
        return
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker)
    try:
        futures = [pool.submit(process_video, record, *args) for record in records]
        for future in as_completed(futures):
            yield future.result()
    finally:  # on Ctrl-C or an error, drop the queued videos instead of finishing them all
        pool.shutdown(wait=True, cancel_futures=True)


def _remove_stale_temps(cache_root: Path) -> None:
    """Half-written video directories left by a killed run (FaceCache writes to .<name>.tmp-<pid>)."""
    for stale in (cache_root / "videos").glob("*/*/*/.*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def summarize(name: str, rows: list[IndexRow], outcomes: list[VideoOutcome], seconds: float) -> dict[str, Any]:
    """Counts of ok / skipped / resumed videos, skip reasons, frames and throughput."""
    new = [o for o in outcomes if not o.resumed]
    sampled = sum(o.frames_sampled for o in new)
    return {
        "dataset": name,
        "videos": len(rows),
        "ok": sum(r.status == STATUS_OK for r in rows),
        "skipped": sum(r.status == STATUS_SKIPPED for r in rows),
        "resumed": len(outcomes) - len(new),
        "frames": sum(r.num_frames for r in rows),
        "frames_sampled": sampled,
        "frames_without_face": sum(o.frames_without_face for o in new),
        "skip_reasons": dict(Counter(r.reason.split(":")[0] for r in rows if r.status == STATUS_SKIPPED)),
        "seconds": round(seconds, 3),
        "frames_per_second": round(sampled / seconds, 3) if seconds > 0 else 0.0,
    }


def _run(records: list[VideoRecord], work: Path, face: dict[str, Any], data: dict[str, Any], workers: int
         ) -> list[VideoOutcome]:
    """Process every record with a progress bar (videos, frames/s, frames without a face)."""
    outcomes: list[VideoOutcome] = []
    start, sampled, without = time.perf_counter(), 0, 0
    with logging_redirect_tqdm(), tqdm(total=len(records), desc=f"faces {data['name']}", unit="video") as bar:
        for outcome in _outcomes(records, work, face, int(data["frames_per_video"]), workers, data):
            outcomes.append(outcome)
            sampled += outcome.frames_sampled
            without += outcome.frames_without_face
            if outcome.status == STATUS_SKIPPED:
                log.warning("skipped %s: %s", outcome.video_id, outcome.reason)
            bar.set_postfix(fps=f"{sampled / max(time.perf_counter() - start, 1e-9):.1f}", no_face=without,
                            refresh=False)
            bar.update()
    return outcomes


def build_face_cache(data_cfg: DictConfig | Mapping[str, Any], face_cfg: DictConfig | Mapping[str, Any],
                     store: ArtifactStore) -> dict[str, Any]:
    """Build (or resume, or reuse) the face cache of one dataset; returns the summary counts."""
    data = data_cfg if isinstance(data_cfg, DictConfig) else OmegaConf.create(dict(data_cfg))
    face = _plain(face_cfg)
    key = face_cache_key(data, OmegaConf.create(face))
    if store.is_complete("faces", key):
        summary = json.loads((store.path("faces", key) / "summary.json").read_text())
        log.info("face cache of %s is complete at %s (%d ok, %d skipped): reusing it", data.name,
                 store.path("faces", key), summary["ok"], summary["skipped"])
        return {**summary, "reused": True}
    if prepared_frames_of(data) is None:
        check_face_config(face)
    records = list_videos(data)
    workers = min(int(face.get("num_workers", 0)), len(records))
    start = time.perf_counter()
    with store.build("faces", key, meta={"dataset": data.name, "data": _plain(data), "face": face}) as work:
        _remove_stale_temps(work)
        outcomes = _run(records, work, face, _plain(data), workers)
        by_id = {o.video_id: o for o in outcomes}
        rows = [IndexRow.from_record(r, by_id[r.video_id].num_frames, by_id[r.video_id].status,
                                     by_id[r.video_id].reason) for r in records]
        FaceCache(work).write_index(rows)
        summary = summarize(data.name, rows, outcomes, time.perf_counter() - start)
        atomic_write_json(work / "summary.json", summary)
    log.info("face cache %s: %d videos, %d ok, %d skipped (%s), %d resumed, %d frames, %.1f frames/s -> %s",
             data.name, summary["videos"], summary["ok"], summary["skipped"],
             ", ".join(f"{k}: {v}" for k, v in summary["skip_reasons"].items()) or "none", summary["resumed"],
             summary["frames"], summary["frames_per_second"], store.path("faces", key))
    return {**summary, "reused": False, "cache_dir": str(store.path("faces", key))}
