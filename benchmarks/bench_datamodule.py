"""Stage-1 DataModule throughput: images (real + fake) per second at 380x380 as the loader delivers them
(uint8; the normalisation runs on the training device), from a face cache built from
../shared/bench/faces_1280x720.npz, with the composed `blend=robust` config (every augmentation on).

`datamodule_samples_per_s` is 2 workers over jpg crops (the CPU target, >= 220); `_npy` the same over the npy
cache format (no decode); `_w8` / `_w16` are 8 and 16 workers, which only pay on a machine with that many
free cores (on a shared 2-core box they measure contention).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.bench_blend import SIZE, bench_file
from data_modules.blending import crop_face
from data_modules.cache import FaceCache, FaceTrack
from data_modules.pseudo_fake import PseudoFakeDataModule
from data_modules.records import IndexRow, VideoRecord
from src.config import compose_config

GPU = False
PAIRS, BATCHES = 16, 12
CACHE_CROP, CACHE_MARGIN = 420, 0.5
# figure suffix -> (workers, crop format)
VARIANTS = {"": (2, "jpg"), "_npy": (2, "npy"), "_w8": (8, "jpg"), "_w16": (16, "jpg")}


def build_cache(root: Path, image_format: str = "jpg") -> FaceCache:
    """One real training video and one validation video of enlarged face crops from the benchmark frames."""
    with np.load(bench_file(), allow_pickle=False) as data:
        frames, landmarks = data["frames"], data["landmarks68"].astype(np.float32)
    cache, rows = FaceCache(root), []
    for name, split, picks in (("bench_train", "train", range(0, 20)), ("bench_val", "val", range(0, 20, 5))):
        crops = [crop_face(frames[i], landmarks[i], CACHE_CROP, CACHE_MARGIN) for i in picks]
        n = len(crops)
        record = VideoRecord(f"bench/real/raw/{name}", f"/bench/{name}", 0, "bench", "real", "raw", split)
        cache.write_video(record, FaceTrack([c for c, _ in crops], np.stack([p for _, p in crops]),
                                            np.zeros((n, 4), np.float32), np.zeros((n, 4), np.int32),
                                            np.ones(n, np.float32), np.arange(n)), image_format=image_format)
        rows.append(IndexRow.from_record(record, n, "ok"))
    cache.write_index(rows)
    return cache


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux /proc; 0 where unreadable)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def samples_per_s(cache: FaceCache, workers: int, val_dir: Path) -> tuple[float, float]:
    """(images per second, worker CPU ms per image) over BATCHES training batches after the first (worker
    start-up excluded). The CPU time does not depend on other jobs sharing the cores; the rate does."""
    blend = compose_config(["blend=robust"]).blend
    dm = PseudoFakeDataModule([cache], [cache], blend, SIZE, (0.5,) * 3, (0.5,) * 3, PAIRS, workers, 8, val_dir,
                              seed=0)
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    images, start, pids, cpu = 0, 0.0, [], 0.0
    for epoch in range(BATCHES):
        loader.sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if epoch == 0 and i == 0:
                pids = [w.pid for w in getattr(loader._iterator, "_workers", [])]
                start, cpu = time.perf_counter(), cpu_seconds(pids)
                continue
            images += len(batch["label"])
        if images >= BATCHES * 2 * PAIRS:
            break
    rate, cpu_ms = images / (time.perf_counter() - start), 1e3 * (cpu_seconds(pids) - cpu) / images
    return rate, cpu_ms


def run() -> list[tuple[str, float, str]]:
    """datamodule_samples_per_s for each VARIANTS entry; for the 2-worker ones also the workers' CPU ms per
    image and the rate two uncontended cores would give at that cost (`_cpu_bound`)."""
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        caches = {fmt: build_cache(Path(tmp) / f"faces_{fmt}", fmt) for fmt in {f for _, f in VARIANTS.values()}}
        for suffix, (workers, fmt) in VARIANTS.items():
            with warnings.catch_warnings():  # 8 and 16 workers on a small machine: torch warns, we know
                warnings.filterwarnings("ignore", message="This DataLoader will create")
                value, cpu_ms = samples_per_s(caches[fmt], workers, Path(tmp) / "val")
            figures.append((f"datamodule_samples_per_s{suffix}", value, "samples/s"))
            if workers == 2 and cpu_ms > 0:
                figures += [(f"datamodule_worker_cpu_ms_per_sample{suffix}", cpu_ms, "ms"),
                            (f"datamodule_samples_per_s{suffix}_cpu_bound", workers * 1e3 / cpu_ms, "samples/s")]
    return figures
