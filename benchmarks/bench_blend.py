"""Pseudo-fake generator speed on ../shared/bench/faces_1280x720.npz: one core, one thread, CPU time per call.

Every augmentation is active (experiments/blend/robust.yaml: the paper mixture, colour and sharpness/downscale
changes, affine, elastic, two-stage blur, random crop, flip, JPEG and downscale), output 380x380 as the
reference figures. A second figure forces JPEG and downscale on every call (worst case).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf

from data_modules.allocator import keep_freed_buffers
from data_modules.blending import BlendConfig, crop_face, make_pseudo_fake
from src.config import CONFIG_DIR

GPU = False
REFERENCE_MEDIAN_MS = 11.2  # the DiffFake reference generator, same inputs and setup (bench/README.md)
SIZE, WARMUP, CALLS, BLOCK = 380, 30, 400, 50


def bench_file() -> Path:
    """The shared benchmark frames (DIFFFAKE_SHARED or <repo>/../shared)."""
    shared = Path(os.environ.get("DIFFFAKE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    path = shared / "bench" / "faces_1280x720.npz"
    if not path.is_file():
        raise FileNotFoundError(f"benchmark frames missing at {path}; set DIFFFAKE_SHARED to the shared folder")
    return path


@contextmanager
def one_core_one_thread():
    """Pin this process to one core and every library to one thread, with the heap tuning of DataModule
    workers (data_modules/allocator.py); restore pinning and threads afterwards."""
    keep_freed_buffers()
    cores, cv_threads, torch_threads = os.sched_getaffinity(0), cv2.getNumThreads(), torch.get_num_threads()
    os.sched_setaffinity(0, {max(cores)})
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def blend_config(**overrides) -> BlendConfig:
    """experiments/blend/robust.yaml (over sbi.yaml) at the benchmark size."""
    node = OmegaConf.merge(OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"),
                           OmegaConf.load(CONFIG_DIR / "blend" / "robust.yaml"), overrides)
    node.pop("defaults", None)
    return BlendConfig.from_cfg(node, SIZE)


def time_calls(frames: np.ndarray, landmarks: np.ndarray, cfg: BlendConfig, rng: np.random.Generator,
               start: int, count: int) -> list[float]:
    """CPU milliseconds of `count` generator calls, cycling over the frames from index `start`."""
    times = []
    for i in range(start, start + count):
        begin = time.thread_time_ns()
        make_pseudo_fake(frames[i % len(frames)], landmarks[i % len(frames)], rng, cfg)
        times.append((time.thread_time_ns() - begin) / 1e6)
    return times


def time_floor(frames: np.ndarray, landmarks: np.ndarray, start: int, count: int) -> list[float]:
    """CPU ms of the unavoidable kernels alone (face crop, hull fill, one blur, one blend at SIZE): the
    machine's floor, which bench/README.md puts at about 1 ms where the reference took 11.2 ms."""
    times = []
    for i in range(start, start + count):
        frame, points = frames[i % len(frames)], landmarks[i % len(frames)]
        begin = time.thread_time_ns()
        face, moved = crop_face(frame, points, SIZE)
        hull = np.zeros((SIZE, SIZE), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(moved.astype(np.int32)), 255)
        weight = cv2.GaussianBlur(hull, (15, 15), 0).astype(np.float32) * np.float32(1 / 255)
        cv2.blendLinear(face, face[::-1].copy(), 1.0 - weight, weight)
        times.append((time.thread_time_ns() - begin) / 1e6)
    return times


def interleaved(frames: np.ndarray, landmarks: np.ndarray, cfg: BlendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Generator and floor timings in alternating blocks, so both see the same machine load (a shared VM's
    speed drifts within a minute); warm-up calls are discarded."""
    rng = np.random.default_rng(0)
    time_calls(frames, landmarks, cfg, rng, 0, WARMUP)
    time_floor(frames, landmarks, 0, WARMUP)
    ms, floor = [], []
    for start in range(0, CALLS, BLOCK):
        ms += time_calls(frames, landmarks, cfg, rng, start, BLOCK)
        floor += time_floor(frames, landmarks, start, BLOCK)
    return np.asarray(ms), np.asarray(floor)


def run() -> list[tuple[str, float, str]]:
    """Median and p90 ms per sample, the speedup over the reference, the forced and the disabled robustness
    JPEG/downscale medians, and this machine's kernel floor (the reference is 11.2x its floor's ~1 ms)."""
    with np.load(bench_file(), allow_pickle=False) as data:
        frames, landmarks = data["frames"], data["landmarks68"].astype(np.float32)
    with one_core_one_thread():
        ms, floor = interleaved(frames, landmarks, blend_config())
        worst, _ = interleaved(frames, landmarks, blend_config(jpeg={"p": 1.0}, downscale={"p": 1.0}))
        plain, plain_floor = interleaved(frames, landmarks, blend_config(jpeg={"p": 0.0}, downscale={"p": 0.0}))
    median = float(np.median(ms))
    return [("blend_ms_median", median, "ms"), ("blend_ms_p90", float(np.percentile(ms, 90)), "ms"),
            ("blend_speedup_vs_reference", REFERENCE_MEDIAN_MS / median, "x"),
            ("blend_ms_median_jpeg_downscale_always", float(np.median(worst)), "ms"),
            ("blend_kernel_floor_ms_median", float(np.median(floor)), "ms"),
            ("blend_ms_median_over_floor", median / float(np.median(floor)), "x"),
            ("blend_ms_median_without_robust_jpeg_downscale", float(np.median(plain)), "ms"),
            ("blend_ms_median_without_robust_jpeg_downscale_over_floor",
             float(np.median(plain)) / float(np.median(plain_floor)), "x")]
