"""PseudoFakeDataModule over a real (tiny) face cache: batch layout, normalisation, fixed validation set,
reproducible epoch-dependent training samples on any worker count."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from data_modules.pseudo_fake import PseudoFakeDataModule, split_videos
from src.config import CONFIG_DIR
from tests.fixtures_faces import write_face_cache

SIZE, PAIRS = 64, 3
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_face_cache(tmp_path_factory.mktemp("faces"), {"v0": "train", "v1": "train", "v2": "train",
                                                               "v3": "val", "v4": "test"})


def module(cache, val_dir: Path, num_workers: int = 0, val_caches=None, seed: int = 5) -> PseudoFakeDataModule:
    dm = PseudoFakeDataModule(train_caches=[cache], val_caches=[cache] if val_caches is None else val_caches,
                              blend_cfg=OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"), image_size=SIZE,
                              mean=MEAN, std=STD, pairs_per_batch=PAIRS, num_workers=num_workers, val_size=10,
                              val_dir=val_dir, seed=seed)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def epoch_batches(dm: PseudoFakeDataModule, epoch: int) -> list[dict]:
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return [dm.on_after_batch_transfer(batch, 0) for batch in loader]


def test_train_batches_hold_real_fake_pairs_normalised(cache, tmp_path):
    dm = module(cache, tmp_path / "val")
    raw = next(iter(dm.train_dataloader()))  # what crosses from the loader workers: uint8, channels last
    assert raw["image"].dtype == torch.uint8 and raw["image"].shape == (2 * PAIRS, SIZE, SIZE, 3)
    batches = epoch_batches(dm, 0)
    assert len(batches) == 9 // PAIRS  # 3 training videos x 3 frames; val/test videos stay out
    for batch in batches:
        assert batch["image"].shape == (2 * PAIRS, 3, SIZE, SIZE) and batch["image"].dtype == torch.float32
        assert batch["label"].tolist() == [0, 1] * PAIRS and batch["label"].dtype == torch.int64
        assert batch["mask_type"][0::2] == ["real"] * PAIRS and "real" not in batch["mask_type"][1::2]
        assert batch["resamples"].shape == (2 * PAIRS,)
        pixels = batch["image"] * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
        assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
        assert torch.allclose(pixels * 255, (pixels * 255).round(), atol=1e-3)  # exactly uint8 / 255
        real, fake = batch["image"][0::2], batch["image"][1::2]
        assert ((real - fake).abs().flatten(1).max(1).values > 0).all()


def test_training_items_depend_on_epoch_and_not_on_worker_count(cache, tmp_path):
    serial = module(cache, tmp_path / "val")
    parallel = module(cache, tmp_path / "val", num_workers=2)
    first, again, second = epoch_batches(serial, 0), epoch_batches(serial, 0), epoch_batches(serial, 1)
    with_workers = epoch_batches(parallel, 1)
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0]["image"], second[0]["image"])
    assert all(torch.equal(a["image"], b["image"]) and a["mask_type"] == b["mask_type"]
               for a, b in zip(second, with_workers, strict=True))


def test_validation_set_is_fixed_written_once_and_shared_by_instances(cache, tmp_path):
    dm = module(cache, tmp_path / "val")
    path = dm.val_path
    stamp = path.stat().st_mtime_ns
    epochs = [list(dm.val_dataloader()) for _ in range(2)]
    other = list(module(cache, tmp_path / "val").val_dataloader())
    fresh = list(module(cache, tmp_path / "elsewhere").val_dataloader())
    assert path.stat().st_mtime_ns == stamp  # reused, not rewritten
    for batches in (epochs[1], other, fresh):
        assert all(torch.equal(a["image"], b["image"]) and a["mask_type"] == b["mask_type"]
                   for a, b in zip(epochs[0], batches, strict=True))
    labels = torch.cat([b["label"] for b in epochs[0]])
    assert labels.tolist() == [0, 1] * 5
    meta = (tmp_path / "val" / "meta.json").read_text()
    assert "toy/real/raw/v3" in meta and "toy/real/raw/v0" not in meta  # made from the val-split reals


def test_without_val_reals_a_stable_subset_of_training_videos_is_held_out(cache, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        train, val = split_videos([cache], [])
    assert "holding out 1 of 3 training videos" in caplog.text
    assert len(val) == 1 and not {v for _, v in train} & {v for _, v in val}
    assert split_videos([cache], []) == (train, val)
    dm = module(cache, tmp_path / "val", val_caches=[])
    assert len(dm.train_set) == 6


def test_bad_arguments_are_refused_clearly(cache, tmp_path):
    with pytest.raises(ValueError, match="pairs_per_batch"):
        PseudoFakeDataModule([cache], [cache], OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"), SIZE, MEAN, STD,
                             0, 0, 10, tmp_path, 0)
    empty = write_face_cache(tmp_path / "empty", {"only_val": "val"})
    with pytest.raises(ValueError, match="no real training videos"):
        split_videos([empty], [empty])


def test_preview_samples_are_fixed_per_epoch(cache, tmp_path):
    dm = module(cache, tmp_path / "val")
    a, b, c = dm.preview_samples(2, 0), dm.preview_samples(2, 0), dm.preview_samples(2, 1)
    assert [s.fake.tobytes() for s in a] == [s.fake.tobytes() for s in b]
    assert [s.fake.tobytes() for s in a] != [s.fake.tobytes() for s in c]
    assert np.all([s.real.shape == (SIZE, SIZE, 3) for s in a])
