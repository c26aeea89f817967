"""Stage-1 data: pseudo-fakes made on the fly from cached real faces, and a fixed validation set.

A training item is one real frame; it yields a real and a fake image, so a batch of `pairs_per_batch`
items holds 2 * pairs_per_batch images ordered real, fake, real, fake, ... Images leave the loader as
uint8 [2B,S,S,3] (a quarter of the float32 bytes to pass between processes) and are normalised with the
backbone's mean and std on the training device, in `on_after_batch_transfer`.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from data_modules.allocator import keep_freed_buffers
from data_modules.blending import BlendConfig, PseudoFake, make_pseudo_fake
from data_modules.cache import FaceCache
from data_modules.io import atomic_save_npz, atomic_write_json, load_npz
from data_modules.normalize import normalize_images
from data_modules.records import FAKE, REAL
from data_modules.workers import resolve_workers

log = logging.getLogger(__name__)

VAL_FILE, VAL_META = "pseudo_val.npz", "meta.json"
REAL_TYPE = "real"
HELD_OUT_FRACTION = 0.1


@dataclass(frozen=True)
class FrameIndex:
    """Every cached frame of a set of videos: where to read it and its landmarks (crop coordinates)."""

    caches: tuple[FaceCache, ...]
    cache_ids: np.ndarray  # [N] int index into caches
    video_ids: tuple[str, ...]  # [N]
    frames: np.ndarray  # [N] int position inside the video's crops
    landmarks: np.ndarray  # [N,68,2] float32

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """RGB crop and landmarks of frame i."""
        return self.caches[self.cache_ids[i]].read_crop(self.video_ids[i], int(self.frames[i])), self.landmarks[i]


def index_frames(videos: Sequence[tuple[FaceCache, str]]) -> FrameIndex:
    """Frame index over (cache, video_id) pairs, in the given order."""
    caches: list[FaceCache] = []
    cache_ids, video_ids, frames, landmarks = [], [], [], []
    for cache, video_id in videos:
        if cache not in caches:
            caches.append(cache)
        faces = cache.read_faces(video_id)
        cache_ids += [caches.index(cache)] * faces.num_frames
        video_ids += [video_id] * faces.num_frames
        frames.append(np.arange(faces.num_frames))
        landmarks.append(faces.landmarks.astype(np.float32))
    if not video_ids:
        raise ValueError("no cached frames to build pseudo-fakes from; check the face cache (preprocess stage)")
    return FrameIndex(tuple(caches), np.asarray(cache_ids), tuple(video_ids), np.concatenate(frames),
                      np.concatenate(landmarks))


def _real_videos(caches: Sequence[FaceCache], split: str) -> list[tuple[FaceCache, str]]:
    return [(c, row.video_id) for c in caches for row in c.select(split=split, label=REAL)]


def _stable_rank(video_id: str) -> str:
    return hashlib.sha1(video_id.encode()).hexdigest()


def split_videos(train_caches: Sequence[FaceCache], val_caches: Sequence[FaceCache]
                 ) -> tuple[list[tuple[FaceCache, str]], list[tuple[FaceCache, str]]]:
    """Training and validation real videos; without val-split reals, hold out ~10% of training videos."""
    train, val = _real_videos(train_caches, "train"), _real_videos(val_caches, "val")
    if not train:
        raise ValueError("the face caches hold no real training videos (split=train, label=0); "
                         "check the dataset's splits and rerun preprocess")
    if val:
        return train, val
    if len(train) == 1:
        log.warning("no real validation videos (split=val, label=0); the pseudo-fake validation set reuses the "
                    "only training video %s, so val/auc is optimistic", train[0][1])
        return train, train
    ranked = sorted(train, key=lambda v: _stable_rank(v[1]))
    count = max(1, round(HELD_OUT_FRACTION * len(train)))
    held = {v[1] for v in ranked[:count]}
    log.warning("no real validation videos (split=val, label=0); holding out %d of %d training videos "
                "for the pseudo-fake validation set", count, len(train))
    return [v for v in train if v[1] not in held], [v for v in train if v[1] in held]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one training item: same (seed, epoch, index) -> same pseudo-fake, on any worker."""
    return np.random.default_rng([seed, epoch, index])


class PseudoFakeTrainSet(Dataset):
    """Keys are epoch * len + frame, so an item depends only on (seed, epoch, frame)."""

    def __init__(self, frames: FrameIndex, blend: BlendConfig, seed: int) -> None:
        self.frames, self.blend, self.seed = frames, blend, seed

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: int) -> dict[str, Any]:
        epoch, index = divmod(int(key), len(self.frames))
        image, landmarks = self.frames.read(index)
        sample = make_pseudo_fake(image, landmarks, sample_rng(self.seed, epoch, index), self.blend)
        return {"image": torch.from_numpy(np.stack([sample.real, sample.fake])),
                "label": torch.tensor([REAL, FAKE], dtype=torch.int64),
                "mask_type": [REAL_TYPE, sample.mask_type],
                "resamples": torch.tensor([0, sample.params["resamples"]], dtype=torch.int64)}


class EpochShuffleSampler(Sampler[int]):
    """A permutation of the frames seeded by (seed, epoch), yielding epoch-tagged keys; Lightning calls
    set_epoch before every epoch, so a resumed run sees the same order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentations to produce."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch, 2**31 - 1]).permutation(self.size)
        return iter((self.epoch * self.size + order).tolist())


class PseudoFakeValSet(Dataset):
    """The fixed validation images (real and fake interleaved), uint8 like the training items."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.images, self.labels = arrays["images"], arrays["labels"]
        self.mask_types = [str(t) for t in arrays["mask_types"]]
        self.resamples = arrays["resamples"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": torch.from_numpy(np.ascontiguousarray(self.images[i:i + 1])),
                "label": torch.from_numpy(self.labels[i:i + 1].astype(np.int64)),
                "mask_type": [self.mask_types[i]],
                "resamples": torch.from_numpy(self.resamples[i:i + 1].astype(np.int64))}


def collate_pairs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate per-item stacks: image uint8 [2B,S,S,3], label [2B], mask_type list of 2B strings ('real'
    for real images), resamples [2B] (how often the fake's mask was redrawn)."""
    return {"image": torch.cat([it["image"] for it in items]),
            "label": torch.cat([it["label"] for it in items]),
            "mask_type": [t for it in items for t in it["mask_type"]],
            "resamples": torch.cat([it["resamples"] for it in items])}


def seed_worker(worker_id: int) -> None:
    """Seed every global RNG of a DataLoader worker from its torch seed (torch already runs workers on one
    thread; cv2.setNumThreads must not be called here: it hangs in a forked child)."""
    keep_freed_buffers()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    cv2.setRNGSeed(seed % 2**31)


def build_val_set(frames: FrameIndex, blend: BlendConfig, val_size: int, seed: int) -> dict[str, np.ndarray]:
    """val_size images (val_size // 2 real/fake pairs) from frames spread over the validation videos."""
    pairs = max(1, val_size // 2)
    order = np.random.default_rng([seed, 7]).permutation(len(frames))
    images, mask_types, video_ids, resamples = [], [], [], []
    for j in range(pairs):
        index = int(order[j % len(order)])
        image, landmarks = frames.read(index)
        sample = make_pseudo_fake(image, landmarks, np.random.default_rng([seed, 7, j]), blend)
        images += [sample.real, sample.fake]
        mask_types += [REAL_TYPE, sample.mask_type]
        video_ids += [frames.video_ids[index]] * 2
        resamples += [0, sample.params["resamples"]]
    return {"images": np.stack(images), "labels": np.tile(np.array([REAL, FAKE], np.int64), pairs),
            "mask_types": np.asarray(mask_types, dtype=np.str_), "video_ids": np.asarray(video_ids, dtype=np.str_),
            "resamples": np.asarray(resamples, np.int64)}


class PseudoFakeDataModule(pl.LightningDataModule):
    """Pseudo-fake batches from real training faces, validated on a fixed set written once to val_dir."""

    def __init__(self, train_caches: Sequence[FaceCache], val_caches: Sequence[FaceCache],
                 blend_cfg: Mapping[str, Any] | BlendConfig, image_size: int, mean: Sequence[float],
                 std: Sequence[float], pairs_per_batch: int, num_workers: int | str, val_size: int, val_dir: Path,
                 seed: int, prefetch_factor: int = 2) -> None:
        super().__init__()
        if pairs_per_batch < 1 or val_size < 2:
            raise ValueError(f"pairs_per_batch must be >= 1 and val_size >= 2, got {pairs_per_batch}, {val_size}")
        self.blend = blend_cfg if isinstance(blend_cfg, BlendConfig) else BlendConfig.from_cfg(blend_cfg, image_size)
        if self.blend.image_size != image_size:
            raise ValueError(f"blend config is for size {self.blend.image_size}, the backbone wants {image_size}")
        self.train_caches, self.val_caches = list(train_caches), list(val_caches)
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(3, 1, 1)
        self.pairs_per_batch, self.num_workers, self.val_size = pairs_per_batch, resolve_workers(num_workers), val_size
        self.prefetch_factor = int(prefetch_factor)
        self.val_dir, self.seed = Path(val_dir), int(seed)
        self.train_set: PseudoFakeTrainSet | None = None
        self.val_set: PseudoFakeValSet | None = None

    @property
    def val_path(self) -> Path:
        """The fixed validation set file."""
        return self.val_dir / VAL_FILE

    def prepare_data(self) -> None:
        """Write the validation set once (rank zero); later runs with the same key reuse it."""
        if self.val_path.is_file():
            return
        _, val_videos = split_videos(self.train_caches, self.val_caches)
        arrays = build_val_set(index_frames(val_videos), self.blend, self.val_size, self.seed)
        atomic_write_json(self.val_dir / VAL_META, {
            "val_size": len(arrays["labels"]), "image_size": self.blend.image_size, "seed": self.seed,
            "videos": sorted({v for _, v in val_videos}), "degenerate_resamples": int(arrays["resamples"].sum()),
            "mask_types": {t: int((arrays["mask_types"] == t).sum()) for t in np.unique(arrays["mask_types"])}})
        atomic_save_npz(self.val_path, **arrays)
        log.info("wrote %d pseudo-fake validation images to %s", len(arrays["labels"]), self.val_path)

    def setup(self, stage: str | None = None) -> None:
        """Index the training frames and load the validation set; tune the heap for per-sample buffers."""
        keep_freed_buffers()
        if self.train_set is None:
            train_videos, _ = split_videos(self.train_caches, self.val_caches)
            self.train_set = PseudoFakeTrainSet(index_frames(train_videos), self.blend, self.seed)
        if self.val_set is None:
            self.prepare_data()
            arrays = load_npz(self.val_path)
            size = self.blend.image_size
            if arrays["images"].shape[1:] != (size, size, 3):
                raise ValueError(f"{self.val_path} holds {list(arrays['images'].shape[1:])} images, expected "
                                 f"[{size},{size},3]; delete {self.val_dir} (a stale key) and rerun")
            self.val_set = PseudoFakeValSet(arrays)

    def preview_samples(self, count: int, epoch: int) -> list[PseudoFake]:
        """`count` pseudo-fakes from training frames, fixed per (seed, epoch), for the preview callback."""
        if self.train_set is None:
            self.setup("fit")
        frames = self.train_set.frames
        out = []
        for i in range(count):
            rng = np.random.default_rng([self.seed, epoch, 3, i])
            image, landmarks = frames.read(int(rng.integers(len(frames))))
            out.append(make_pseudo_fake(image, landmarks, rng, self.blend))
        return out

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None, drop_last: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, drop_last=drop_last,
                          num_workers=self.num_workers, collate_fn=collate_pairs, worker_init_fn=seed_worker,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
                          prefetch_factor=self.prefetch_factor if self.num_workers > 0 else None)

    def train_dataloader(self) -> DataLoader:
        """pairs_per_batch frames per batch -> 2 * pairs_per_batch images; order reshuffled per epoch."""
        assert self.train_set is not None, "call setup() first"
        size = len(self.train_set)
        sampler = EpochShuffleSampler(size, self.seed)
        sampler.set_epoch(self._coming_epoch())
        return self._loader(self.train_set, self.pairs_per_batch, sampler, drop_last=size >= self.pairs_per_batch)

    def _coming_epoch(self) -> int:
        """The epoch the trainer runs next (its restored one when resuming; 0 without a trainer).

        Lightning makes the first epoch's loader iterator before it calls set_epoch; loader workers fetch
        their first keys right then, so a resumed run would replay epoch 0's keys unless the sampler already
        starts at the restored epoch."""
        trainer = getattr(self, "trainer", None)
        return int(trainer.fit_loop.epoch_progress.current.processed) if trainer is not None else 0

    def val_dataloader(self) -> DataLoader:
        """The fixed validation set in 2 * pairs_per_batch image batches, in file order."""
        assert self.val_set is not None, "call setup() first"
        return self._loader(self.val_set, 2 * self.pairs_per_batch, None, drop_last=False)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """On the training device: uint8 image [2B,S,S,3] -> normalised float32 [2B,3,S,S]."""
        device = batch["image"].device
        return {**batch, "image": normalize_images(batch["image"], self.mean.to(device), self.std.to(device))}
