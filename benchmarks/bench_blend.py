"""Pseudo-fake generator speed on ../shared/bench/faces_1280x720.npz: one core, one thread, CPU time per call.

The `blend_*` figures time our strong recipe with every augmentation active (experiments/blend/robust.yaml:
the mask mixture, colour and sharpness/downscale changes, affine, elastic, two-stage blur, random crop, flip,
JPEG and downscale), output 380x380 as the reference figures; a second figure forces JPEG and downscale on
every call (worst case). The `blend_sbi_*` figures time the paper's recipe (experiments/blend/sbi.yaml, the
reference's own augmentations) at the same size, at the paper's 224 px, and at each frame's reference crop
size (the reference blends at the crop's own size, 205-478 px here, mean 320: the same pixels as it).

With DIFFFAKE_REFERENCE=<a checkout of github.com/sotossta/DiffFake> (not shipped here) the reference
generator is timed in the same process, in blocks alternating with ours, and the measured speedups printed.
"""

from __future__ import annotations

import logging
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf

from data_modules.allocator import keep_freed_buffers
from data_modules.blending import BlendConfig, crop_face, make_pseudo_fake
from src.config import compose_config

GPU = False
REFERENCE_MEDIAN_MS = 11.2  # the DiffFake reference generator, same inputs and setup (bench/README.md)
SIZE, WARMUP, CALLS, BLOCK = 380, 30, 400, 10
PAPER_SIZE = 224  # the paper's input size (experiments/experiment/paper_protocol.yaml)


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


def blend_config(name: str = "robust", size: int = SIZE, **overrides) -> BlendConfig:
    """The composed `blend=<name>` config group with overrides, at output size `size`."""
    node = compose_config([f"blend={name}"]).blend
    return BlendConfig.from_cfg(OmegaConf.merge(node, overrides), size)


def reference_sides(boxes: np.ndarray) -> list[int]:
    """Each frame's reference crop side (DiffFake utils/funcs.py crop_image: int(1.3 x the face box); the
    bench faces are square and lie inside their frames)."""
    return [int(side * 1.3) for side in boxes[:, 2]]


def cpu_ms(call: Callable[[int], object], start: int, count: int) -> list[float]:
    """CPU milliseconds of call(i) for i in start .. start + count - 1 (this thread only)."""
    times = []
    for i in range(start, start + count):
        begin = time.thread_time_ns()
        call(i)
        times.append((time.thread_time_ns() - begin) / 1e6)
    return times


def floor_kernels(frame: np.ndarray, points: np.ndarray) -> None:
    """The unavoidable kernels alone (face crop, hull fill, one blur, one blend at SIZE): the machine's floor,
    which bench/README.md puts at about 1 ms where the reference took 11.2 ms."""
    face, moved = crop_face(frame, points, SIZE)
    hull = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(moved.astype(np.int32)), 255)
    weight = cv2.GaussianBlur(hull, (15, 15), 0).astype(np.float32) * np.float32(1 / 255)
    cv2.blendLinear(face, face[::-1].copy(), 1.0 - weight, weight)


def reference_generator() -> Callable[[np.ndarray, np.ndarray, np.ndarray], object] | None:
    """make_pseudo_deepfake(frame, bbox_xywh, landmarks) from the DiffFake checkout at $DIFFFAKE_REFERENCE,
    or None when the variable is unset."""
    root = os.environ.get("DIFFFAKE_REFERENCE")
    if not root:
        return None
    if not (Path(root) / "construct_pseudo_deepfake.py").is_file():
        raise FileNotFoundError(f"DIFFFAKE_REFERENCE={root} holds no construct_pseudo_deepfake.py; point it at a "
                                "checkout of github.com/sotossta/DiffFake")
    sys.path.insert(0, root)
    from construct_pseudo_deepfake import make_pseudo_deepfake  # the reference's own module layout

    logging.getLogger("utils").setLevel(logging.WARNING)  # its mask classes log each call at INFO
    np.random.seed(0)  # the reference draws from the global generators
    random.seed(0)
    return make_pseudo_deepfake


def page_faults_per_call(frames: np.ndarray, landmarks: np.ndarray, cfg: BlendConfig, count: int = 200) -> float:
    """Minor page faults per generator call: fresh pages the heap had to map (data_modules/allocator.py)."""
    rng = np.random.default_rng(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(count):
        make_pseudo_fake(frames[i % len(frames)], landmarks[i % len(frames)], rng, cfg)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / count


def interleaved(frames: np.ndarray, landmarks: np.ndarray, cfg: BlendConfig, timers: tuple[Callable, ...] = ()
                ) -> list[np.ndarray]:
    """Generator, floor and each extra `timers(start, count)` (CPU ms per call) timings in alternating blocks, so all see the
    same machine load (a shared VM's speed drifts within a minute); warm-up calls are discarded."""
    rng = np.random.default_rng(0)
    n = len(frames)
    blocks = (partial(cpu_ms, lambda i: make_pseudo_fake(frames[i % n], landmarks[i % n], rng, cfg)),
              partial(cpu_ms, lambda i: floor_kernels(frames[i % n], landmarks[i % n])), *timers)
    for timer in blocks:
        timer(0, WARMUP)
    times: list[list[float]] = [[] for _ in blocks]
    for start in range(0, CALLS, BLOCK):
        for out, timer in zip(times, blocks, strict=True):
            out += timer(start, BLOCK)
    return [np.asarray(t) for t in times]


def run() -> list[tuple[str, float, str]]:
    """Strong recipe: median and p90 ms per sample, the speedup over the reference (published figure, and
    measured here when DIFFFAKE_REFERENCE is set), the forced and the disabled robustness JPEG/downscale
    medians, and this machine's kernel floor (the reference is 11.2x its floor's ~1 ms where the figures were
    taken). Paper recipe (sbi): median, p90, over the floor and the measured speedup over the reference, at
    SIZE, at the paper's 224 px and at each frame's reference crop size (the reference works at the crop's
    own size, 205-478 px here: the same output pixels as it)."""
    with np.load(bench_file(), allow_pickle=False) as data:
        frames, landmarks, boxes = data["frames"], data["landmarks68"].astype(np.float32), data["bbox_xywh"]
    reference = reference_generator()
    n = len(frames)
    extra = (partial(cpu_ms, lambda i: reference(frames[i % n], boxes[i % n], landmarks[i % n])),) if reference else ()
    with one_core_one_thread():
        ms, floor, *measured = interleaved(frames, landmarks, blend_config(), extra)
        worst, _ = interleaved(frames, landmarks, blend_config(jpeg={"p": 1.0}, downscale={"p": 1.0}))
        plain, plain_floor, *plain_measured = interleaved(
            frames, landmarks, blend_config(jpeg={"p": 0.0}, downscale={"p": 0.0}), extra)
        faults = page_faults_per_call(frames, landmarks, blend_config())
        paper_rng, paper_cfg = np.random.default_rng(2), blend_config("sbi", PAPER_SIZE)
        at_paper_size = partial(cpu_ms, lambda i: make_pseudo_fake(frames[i % n], landmarks[i % n], paper_rng, paper_cfg))
        sides, node = reference_sides(boxes), compose_config(["blend=sbi"]).blend
        own_rng, own_cfg = np.random.default_rng(3), {side: BlendConfig.from_cfg(node, side) for side in set(sides)}
        at_own_size = partial(cpu_ms, lambda i: make_pseudo_fake(frames[i % n], landmarks[i % n], own_rng,
                                                                  own_cfg[sides[i % n]]))
        sbi, sbi_floor, sbi_paper, sbi_own, *sbi_measured = interleaved(
            frames, landmarks, blend_config("sbi"), (at_paper_size, at_own_size, *extra))
    median = float(np.median(ms))
    figures = [("blend_ms_median", median, "ms"), ("blend_ms_p90", float(np.percentile(ms, 90)), "ms"),
               ("blend_speedup_vs_reference", REFERENCE_MEDIAN_MS / median, "x"),
               ("blend_ms_median_jpeg_downscale_always", float(np.median(worst)), "ms"),
               ("blend_kernel_floor_ms_median", float(np.median(floor)), "ms"),
               ("blend_ms_median_over_floor", median / float(np.median(floor)), "x"),
               ("blend_ms_median_without_robust_jpeg_downscale", float(np.median(plain)), "ms"),
               ("blend_ms_median_without_robust_jpeg_downscale_over_floor",
                float(np.median(plain)) / float(np.median(plain_floor)), "x"),
               ("blend_page_faults_per_call", faults, "faults"),
               ("blend_sbi_ms_median", float(np.median(sbi)), "ms"),
               ("blend_sbi_ms_p90", float(np.percentile(sbi, 90)), "ms"),
               ("blend_sbi_ms_median_over_floor", float(np.median(sbi)) / float(np.median(sbi_floor)), "x"),
               ("blend_sbi_ms_median_at_224", float(np.median(sbi_paper)), "ms"),
               ("blend_sbi_ms_median_at_reference_size", float(np.median(sbi_own)), "ms")]
    if measured:
        figures += [("blend_reference_ms_median", float(np.median(measured[0])), "ms"),
                    ("blend_speedup_vs_reference_measured", float(np.median(measured[0])) / median, "x"),
                    ("blend_speedup_vs_reference_measured_without_robust_jpeg_downscale",
                     float(np.median(plain_measured[0])) / float(np.median(plain)), "x"),
                    ("blend_sbi_speedup_vs_reference_measured",
                     float(np.median(sbi_measured[0])) / float(np.median(sbi)), "x"),
                    ("blend_sbi_speedup_vs_reference_measured_at_224",
                     float(np.median(sbi_measured[0])) / float(np.median(sbi_paper)), "x"),
                    ("blend_sbi_speedup_vs_reference_measured_at_reference_size",
                     float(np.median(sbi_measured[0])) / float(np.median(sbi_own)), "x")]
    return figures
