"""Stage-1 DataModule throughput with 2 workers: images (real + fake) per second at 380x380 as the loader
delivers them (uint8; the normalisation runs on the training device), from a face cache built from
../shared/bench/faces_1280x720.npz."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from benchmarks.bench_blend import SIZE, bench_file
from data_modules.blending import crop_face
from data_modules.cache import FaceCache, FaceTrack
from data_modules.pseudo_fake import PseudoFakeDataModule
from data_modules.records import IndexRow, VideoRecord
from src.config import CONFIG_DIR

GPU = False
WORKERS, PAIRS, BATCHES = 2, 16, 12
CACHE_CROP, CACHE_MARGIN = 420, 0.5


def build_cache(root: Path) -> FaceCache:
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
                                            np.ones(n, np.float32), np.arange(n)), image_format="jpg")
        rows.append(IndexRow.from_record(record, n, "ok"))
    cache.write_index(rows)
    return cache


def run() -> list[tuple[str, float, str]]:
    """Images per second over BATCHES training batches after the first (worker start-up excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache(Path(tmp) / "faces")
        blend = OmegaConf.merge(OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"),
                                OmegaConf.load(CONFIG_DIR / "blend" / "robust.yaml"))
        blend.pop("defaults", None)
        dm = PseudoFakeDataModule([cache], [cache], blend, SIZE, (0.5,) * 3, (0.5,) * 3, PAIRS, WORKERS, 8,
                                  Path(tmp) / "val", seed=0)
        dm.prepare_data()
        dm.setup("fit")
        loader = dm.train_dataloader()
        images, start = 0, 0.0
        for epoch in range(BATCHES):
            loader.sampler.set_epoch(epoch)
            for i, batch in enumerate(loader):
                if epoch == 0 and i == 0:
                    start = time.perf_counter()
                    continue
                images += len(batch["label"])
            if images >= BATCHES * 2 * PAIRS:
                break
        return [("datamodule_samples_per_s", images / (time.perf_counter() - start), "samples/s")]
