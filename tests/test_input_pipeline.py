"""Input pipeline sizing and the npy crop format: `num_workers: auto` follows the affinity mask, loaders get
the prefetch depth, and an npy face cache reads back the exact crops a png one holds (and trains the same)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from data_modules.cache import encode_crop
from data_modules.pseudo_fake import PseudoFakeDataModule
from data_modules.workers import MAX_AUTO_WORKERS, resolve_workers, usable_cpus
from src.config import compose_config
from tests.fixtures_faces import write_face_cache
from tests.test_pseudo_fake import MEAN, SIZE, STD


def test_auto_workers_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_cpus() == 3 and resolve_workers("auto") == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert resolve_workers("auto") == MAX_AUTO_WORKERS
    assert resolve_workers(5) == 5 and resolve_workers("0") == 0


@pytest.mark.parametrize("bad", ["many", -1, None])
def test_bad_worker_counts_are_refused_in_one_line(bad):
    with pytest.raises(ValueError, match=r"num_workers=.*expected auto or a count >= 0"):
        resolve_workers(bad)


def test_npy_crops_read_back_exactly_what_png_holds(tmp_path):
    png = write_face_cache(tmp_path / "png", {"v0": "train"}, 2, 96)
    npy = write_face_cache(tmp_path / "npy", {"v0": "train"}, 2, 96, image_format="npy")
    video = "toy/real/raw/v0"
    assert [p.suffix for p in npy.crop_paths(video)] == [".npy", ".npy"]
    assert npy.read_record(video)["image_format"] == "npy"
    for t in range(2):
        a, b = png.read_crop(video, t), npy.read_crop(video, t)
        assert b.dtype == np.uint8 and b.shape == (96, 96, 3) and np.array_equal(a, b)
    with pytest.raises(ValueError, match="face.image_format=webp: expected one of png, jpg, npy"):
        encode_crop(a, "webp")


def test_broken_npy_crop_names_the_file_and_the_fix(tmp_path):
    cache = write_face_cache(tmp_path / "npy", {"v0": "train"}, 1, 64, image_format="npy")
    path = cache.crop_paths("toy/real/raw/v0")[0]
    path.write_bytes(b"not an array")
    with pytest.raises(OSError, match=r"cannot read cached crop .*000\.npy.*rerun preprocess"):
        cache.read_crop("toy/real/raw/v0", 0)


def test_npy_cache_gives_the_same_batches_and_loaders_get_the_prefetch_depth(tmp_path):
    batches = []
    for fmt in ("png", "npy"):
        cache = write_face_cache(tmp_path / fmt, {"v0": "train", "v1": "val"}, 3, 160, image_format=fmt)
        dm = PseudoFakeDataModule([cache], [cache], compose_config(["blend=sbi"]).blend, SIZE, MEAN, STD, pairs_per_batch=2, num_workers="auto",
                                  val_size=2, val_dir=tmp_path / f"val_{fmt}", seed=1, prefetch_factor=3)
        dm.setup("fit")
        loader = dm.train_dataloader()
        assert dm.num_workers == min(MAX_AUTO_WORKERS, usable_cpus()) == loader.num_workers
        assert loader.prefetch_factor == 3
        dm.num_workers = 0  # the batch itself, without starting workers
        batches.append(next(iter(dm.train_dataloader())))
    assert torch.equal(batches[0]["image"], batches[1]["image"])
