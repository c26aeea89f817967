"""Face preprocessing throughput on 720p video with the dlib backend and two worker processes, plus peak memory.

The 720p clips are encoded at bench time from /work/shared/bench/faces_1280x720.npz (or $DIFFFAKE_SHARED/bench)
when present, else from scikit-image's astronaut pasted into 1280x720 frames. Throughput counts sampled
frames over the whole build (worker start-up included); peak memory is the largest resident set of this
process or one of its workers (ru_maxrss). The workers' CPU time per frame (start-up included) does not
depend on what else runs on the machine: with two free cores, frames/s is about 2000 / that figure. The same
clips are then cached again in 2 shards and the merged cache compared with the unsharded one.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.artifacts.faces import build_face_cache
from src.artifacts.store import ArtifactStore
from src.config import compose_config

GPU = False
VIDEOS, FRAMES_PER_CLIP, SAMPLED = 12, 48, 32
SHARED = Path(os.environ.get("DIFFFAKE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def source_frames() -> list[np.ndarray]:
    """1280x720 RGB frames with one real face each."""
    npz = SHARED / "bench" / "faces_1280x720.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as data:
            return list(data["frames"])
    import skimage.data

    face = skimage.data.astronaut()
    frames = []
    for i in range(8):
        canvas = np.zeros((720, 1280, 3), np.uint8)
        canvas[100 + 10 * i: 612 + 10 * i, 300 + 60 * i: 812 + 60 * i] = face
        frames.append(canvas)
    return frames


def write_clips(folder: Path, frames: list[np.ndarray]) -> None:
    """VIDEOS mpeg4 clips of FRAMES_PER_CLIP 720p frames, each holding a slowly moving face."""
    for v in range(VIDEOS):
        with av.open(str(folder / "real" / f"clip{v:02d}.mp4"), "w") as container:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
            stream.bit_rate = 4_000_000
            for i in range(FRAMES_PER_CLIP):
                image = frames[(v * 3 + i // 8) % len(frames)]
                shifted = cv2.warpAffine(image, np.float32([[1, 0, i % 8], [0, 1, 0]]), (1280, 720))
                container.mux(stream.encode(av.VideoFrame.from_ndarray(shifted, format="rgb24")))
            container.mux(stream.encode())


def peak_rss_mb() -> float:
    """Largest resident set of this process or any of its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def children_cpu_seconds() -> float:
    """User plus system CPU time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cache_files(root: Path) -> dict[str, bytes]:
    """Every file of a face cache by relative path; summary.json without its timing fields."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    summary = json.loads(files.pop("summary.json"))
    return {**files, "summary.json": json.dumps({k: v for k, v in summary.items()
                                                 if k not in ("seconds", "frames_per_second")}).encode()}


def sharded_identical(data: DictConfig, face: DictConfig, reference: Path, store: ArtifactStore) -> bool:
    """The same clips in 2 shards, one after the other (the second merges): the same cache, byte for byte?"""
    for shard in (0, 1):
        merged = build_face_cache(store, data, {**OmegaConf.to_container(face), "num_shards": 2, "shard": shard})
    return merged.complete and cache_files(merged.cache_dir) == cache_files(reference)


def run() -> list[tuple[str, float, str]]:
    """preprocess_fps (sampled frames/s, 2 workers), preprocess_peak_rss (MB), preprocess_cpu_per_frame (ms),
    preprocess_sharded_identical (1: 2 shards merged give the unsharded cache byte for byte, 0: they do not)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        (root / "real").mkdir(parents=True)
        write_clips(root, source_frames())
        data = OmegaConf.create({"name": "bench", "adapter": "folder", "root": str(root),
                                 "frames_per_video": SAMPLED, "options": {}})
        face = compose_config(["face=dlib", "face.num_workers=2"]).face
        start, cpu = time.perf_counter(), children_cpu_seconds()
        built = build_face_cache(ArtifactStore(Path(tmp) / "artifacts"), data, face)
        seconds, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
        identical = sharded_identical(data, face, built.cache_dir, ArtifactStore(Path(tmp) / "sharded"))
    summary = built.summary
    if summary.ok != VIDEOS:
        raise RuntimeError(f"benchmark videos were not all cached: {summary}")
    frames = summary.frames_sampled
    return [("preprocess_fps", frames / seconds, "frames/s"), ("preprocess_peak_rss", peak_rss_mb(), "MB"),
            ("preprocess_cpu_per_frame", 1000 * cpu / frames, "ms"),
            ("preprocess_sharded_identical", float(identical), "(1 = yes)")]
