"""The face-cache writer: every video of a dataset through sampling, detection and cropping, in a worker pool.

Work happens in a directory the caller owns (the artifact's .partial directory); each video lands atomically
(FaceCache.write_video), so a killed run resumes where it stopped and videos already cached are never redone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data_modules.cache import FaceCache
from data_modules.cli import InputFileError, UsageError
from data_modules.io import atomic_write_json, read_json, reading, to_plain
from data_modules.preprocess.detectors import build_detector
from data_modules.preprocess.face import FaceDetector
from data_modules.preprocess.frames import VideoReadError
from data_modules.preprocess.perturbed import PERTURB_KEYS, perturb_settings, sample_perturbed
from data_modules.preprocess.prepared import read_prepared_track
from data_modules.preprocess.shards import (
    SHARD_DIR,
    ShardSpec,
    read_parts,
    select_shard,
    shard_of,
    write_part,
)
from data_modules.preprocess.track import NO_FACE, extract_track
from data_modules.records import STATUS_OK, STATUS_SKIPPED, IndexRow, VideoRecord
from data_modules.sources import prepared_frames_of
from data_modules.sources.common import is_broken_link

SUMMARY_FILE = "summary.json"
BROKEN_LINK = "broken link"

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
    detection_retries: int = 0
    found_on_retry: int = 0


def _detector(face_cfg: dict[str, Any]) -> FaceDetector:
    """One detector per process and detector settings (the perturbation keys left out), built on first use."""
    key = json.dumps({k: v for k, v in face_cfg.items() if k not in PERTURB_KEYS}, sort_keys=True, default=str)
    if key not in _DETECTORS:
        _DETECTORS[key] = build_detector(face_cfg)
    return _DETECTORS[key]


def _retry_counts(detector: FaceDetector | None) -> tuple[int, int]:
    """(frames detected again, faces found so) so far, for a detector that retries faceless frames."""
    return int(getattr(detector, "retries", 0)), int(getattr(detector, "found_on_retry", 0))


def _no_face_reason(skipped: list[tuple[int, str]]) -> str:
    if all(reason == NO_FACE for _, reason in skipped):
        return NO_FACE
    return "no face (only faces smaller than face.min_face_px)"


def process_video(record: VideoRecord, cache_root: str, face_cfg: dict[str, Any], data_cfg: dict[str, Any]
                  ) -> VideoOutcome:
    """Sample (perturbed if face_cfg names a perturbation) and detect, or read the dataset's own crops; write one
    video. A video already in the cache is left as it is."""
    cache = FaceCache(cache_root)
    if cache.has_video(record.video_id):
        return VideoOutcome(record.video_id, STATUS_OK, num_frames=int(cache.read_record(record.video_id)["num_frames"]),
                            resumed=True)
    if is_broken_link(Path(record.path)):
        return VideoOutcome(record.video_id, STATUS_SKIPPED,
                            reason=f"{BROKEN_LINK}: {record.path} -> {os.readlink(record.path)}")
    frames_per_video, prepared = int(data_cfg["frames_per_video"]), prepared_frames_of(data_cfg)
    # a broken detector or a bad perturbation is a config error for the whole run, not a skip
    detector, perturbation = (None, None) if prepared else (_detector(face_cfg), perturb_settings(face_cfg))
    retries_before = _retry_counts(detector)
    try:
        if prepared:
            track = read_prepared_track(prepared(record, data_cfg), frames_per_video)
        else:
            frames = sample_perturbed(record.path, frames_per_video, record.video_id, perturbation)
            track = extract_track(frames, detector, face_cfg)
    except VideoReadError as err:
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=str(err))
    except Exception as err:  # one odd video must not stop a dataset; it is counted with its reason
        log.warning("unexpected error on %s (%s)", record.path, record.video_id, exc_info=True)
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=f"error: {type(err).__name__}: {err}")
    without = sum(1 for _, reason in track.skipped if reason == NO_FACE)
    sampled = len(track.crops) + len(track.skipped)
    retried, found = (now - before for now, before in zip(_retry_counts(detector), retries_before, strict=True))
    counts = {"frames_sampled": sampled, "frames_without_face": without, "detection_retries": retried,
              "found_on_retry": found}
    if not track.crops:
        return VideoOutcome(record.video_id, STATUS_SKIPPED, reason=_no_face_reason(track.skipped), **counts)
    cache.write_video(record, track, str(face_cfg.get("image_format", "png")), int(face_cfg.get("jpeg_quality", 95)))
    return VideoOutcome(record.video_id, STATUS_OK, num_frames=len(track.crops), **counts)


def _init_worker() -> None:
    cv2.setNumThreads(1)
    # Ctrl-C reaches the whole process group: the parent alone decides, so a worker never dies mid-task on it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _outcomes(records: list[VideoRecord], cache_root: Path, face_cfg: dict[str, Any], data_cfg: dict[str, Any],
              workers: int) -> Iterator[VideoOutcome]:
    """Outcomes as videos finish: in this process for workers <= 0, else in a spawned process pool.

    On Ctrl-C (or an error) the queued videos are dropped and the workers terminated at once; a video a worker
    was writing stays a temp folder that the next run removes, so the partial cache resumes cleanly."""
    task = partial(process_video, cache_root=str(cache_root), face_cfg=face_cfg, data_cfg=data_cfg)
    if workers <= 0:
        for record in records:
            yield task(record)
        return
    pool = get_context("spawn").Pool(workers, initializer=_init_worker)
    try:
        yield from pool.imap_unordered(task, records)
        pool.close()
    except BaseException:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the teardown
        try:
            pool.terminate()
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    finally:
        pool.join()


def _stale_temp_video(stale: Path, videos: Path) -> str:
    """The video id a half-written directory `.<name>.tmp-<pid>` was for."""
    name = stale.name[1:].rsplit(".tmp-", 1)[0]
    return "/".join((*stale.parent.relative_to(videos).parts, name))


def _remove_stale_temps(cache_root: Path, shard: ShardSpec = ShardSpec()) -> None:
    """Half-written video directories left by a killed run (FaceCache writes to .<name>.tmp-<pid>); a shard
    removes only its own videos' ones, since other shards may be writing theirs right now."""
    videos = cache_root / "videos"
    for stale in videos.glob("*/*/*/.*.tmp-*"):
        if not shard.sharded or shard_of(_stale_temp_video(stale, videos), shard.count) == shard.index:
            shutil.rmtree(stale, ignore_errors=True)


@dataclass(frozen=True)
class FaceCacheSummary:
    """What a face-cache build did: video and frame counts, skip reasons, throughput."""

    dataset: str
    videos: int
    ok: int
    skipped: int
    resumed: int
    frames: int
    frames_sampled: int
    frames_without_face: int
    skip_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    frames_per_second: float = 0.0
    detection_retries: int = 0  # faceless frames detected again larger (face.retry_max_side)
    found_on_retry: int = 0  # of those, frames where the retry found a face

    @classmethod
    def read(cls, path: Path) -> FaceCacheSummary:
        """A summary written by `write_face_cache`."""
        fix = f"delete the face cache {Path(path).parent} and rerun preprocessing"
        with reading(path, fix):
            return cls(**read_json(path, fix))


def summarize(name: str, rows: list[IndexRow], outcomes: list[VideoOutcome], seconds: float) -> FaceCacheSummary:
    """Counts of ok / skipped / resumed videos, skip reasons, frames and throughput."""
    new = [o for o in outcomes if not o.resumed]
    sampled = sum(o.frames_sampled for o in new)
    return FaceCacheSummary(
        dataset=name, videos=len(rows), ok=sum(r.status == STATUS_OK for r in rows),
        skipped=sum(r.status == STATUS_SKIPPED for r in rows), resumed=len(outcomes) - len(new),
        frames=sum(r.num_frames for r in rows), frames_sampled=sampled,
        frames_without_face=sum(o.frames_without_face for o in new),
        detection_retries=sum(o.detection_retries for o in new), found_on_retry=sum(o.found_on_retry for o in new),
        skip_reasons=dict(Counter(r.reason.split(":")[0] for r in rows if r.status == STATUS_SKIPPED)),
        seconds=round(seconds, 3), frames_per_second=round(sampled / seconds, 3) if seconds > 0 else 0.0)


def _run(records: list[VideoRecord], work: Path, face: dict[str, Any], data: dict[str, Any], workers: int
         ) -> list[VideoOutcome]:
    """Process every record with a progress bar (videos, frames/s, frames without a face)."""
    outcomes: list[VideoOutcome] = []
    start, sampled, without = time.perf_counter(), 0, 0
    with logging_redirect_tqdm(), tqdm(total=len(records), desc=f"faces {data['name']}", unit="video") as bar:
        for outcome in _outcomes(records, work, face, data, workers):
            outcomes.append(outcome)
            sampled += outcome.frames_sampled
            without += outcome.frames_without_face
            if outcome.status == STATUS_SKIPPED:
                log.warning("skipped %s: %s", outcome.video_id, outcome.reason)
            bar.set_postfix(fps=f"{sampled / max(time.perf_counter() - start, 1e-9):.1f}", no_face=without,
                            refresh=False)
            bar.update()
    return outcomes


def _index_rows(records: list[VideoRecord], outcomes: list[VideoOutcome]) -> list[IndexRow]:
    by_id = {o.video_id: o for o in outcomes}
    return [IndexRow.from_record(r, by_id[r.video_id].num_frames, by_id[r.video_id].status, by_id[r.video_id].reason)
            for r in records]


def _workers(face: dict[str, Any], todo: list[VideoRecord]) -> int:
    return min(int(face.get("num_workers", 0)), len(todo))


def _log_summary(summary: FaceCacheSummary) -> None:
    log.info("face cache %s: %d videos, %d ok, %d skipped (%s), %d resumed, %d frames, %.1f frames/s, "
             "%d faceless frames retried larger (%d found a face)",
             summary.dataset, summary.videos, summary.ok, summary.skipped,
             ", ".join(f"{k}: {v}" for k, v in summary.skip_reasons.items()) or "none", summary.resumed,
             summary.frames, summary.frames_per_second, summary.detection_retries, summary.found_on_retry)


def write_face_cache(records: list[VideoRecord], work: Path, face_cfg: Mapping[str, Any],
                     data_cfg: Mapping[str, Any]) -> FaceCacheSummary:
    """Cache every record's faces into `work` (resuming what is there); writes index.csv and summary.json.

    Videos that finished shards recorded (see shards.py) are taken from their parts, so this also merges a
    sharded build into the cache an unsharded run writes. Check `face_cfg` with `check_face_config` first
    (unless the dataset ships its own crops): a broken detector stops the whole build."""
    face, data = to_plain(face_cfg), to_plain(data_cfg)
    check_frames_per_video(data)
    start = time.perf_counter()
    _remove_stale_temps(work)
    parts, cache = read_parts(work), FaceCache(work)
    # a part's outcome stands unless it says ok for a video that is no longer whole in the cache
    done = [VideoOutcome(**o) for o in (parts.outcomes.get(r.video_id) for r in records)
            if o is not None and (o["status"] != STATUS_OK or cache.has_video(o["video_id"]))]
    done_ids = {o.video_id for o in done}
    todo = [r for r in records if r.video_id not in done_ids]
    outcomes = done + _run(todo, work, face, data, _workers(face, todo))
    rows = _index_rows(records, outcomes)
    cache.write_index(rows)
    summary = summarize(str(data["name"]), rows, outcomes, time.perf_counter() - start + parts.seconds)
    atomic_write_json(work / SUMMARY_FILE, asdict(summary))
    shutil.rmtree(work / SHARD_DIR, ignore_errors=True)  # merged: the cache holds exactly an unsharded run's files
    _log_summary(summary)
    if summary.ok == 0:  # raising keeps the store from marking it complete; nothing usable is lost by removing it
        shutil.rmtree(work, ignore_errors=True)
        reasons = ", ".join(f"{k}: {v}" for k, v in summary.skip_reasons.items()) or "no videos listed"
        raise InputFileError(f"no usable video in dataset {summary.dataset} ({summary.videos} listed; skipped: "
                             f"{reasons}); nothing was cached: fix data.root or the face settings and rerun")
    return summary


def write_face_cache_shard(records: list[VideoRecord], work: Path, face_cfg: Mapping[str, Any],
                           data_cfg: Mapping[str, Any], shard: ShardSpec) -> FaceCacheSummary:
    """Cache the videos of one shard into `work` (resuming) and write its part; returns the shard's counts."""
    face, data = to_plain(face_cfg), to_plain(data_cfg)
    check_frames_per_video(data)
    mine = select_shard(records, shard)
    start = time.perf_counter()
    _remove_stale_temps(work, shard)
    earlier = read_parts(work).outcomes
    # a rerun keeps what the first pass recorded for videos it finds cached, so the merge counts them as made
    outcomes = [VideoOutcome(**earlier[o.video_id]) if o.resumed and o.video_id in earlier else o
                for o in _run(mine, work, face, data, _workers(face, mine))]
    seconds = time.perf_counter() - start
    write_part(work, shard, outcomes, seconds)
    summary = summarize(f"{data['name']} shard {shard.name}", _index_rows(mine, outcomes), outcomes, seconds)
    _log_summary(summary)
    return summary


def check_frames_per_video(data: Mapping[str, Any]) -> None:
    """frames_per_video must be a positive integer: sampling 0 or -5 frames would skip every video."""
    value = data.get("frames_per_video")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"data.frames_per_video={value}: expected an integer >= 1, e.g. data.frames_per_video=8")
