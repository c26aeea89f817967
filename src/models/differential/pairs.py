"""Same-video frame pairs for stage 2: seeded pair sampling protocols and pair features.

Pairs index positions in a video's frame list sorted by frame number, and each video draws from its own
generator seeded by a SHA-256 of (seed, its frame numbers): the same on every machine, and the same whether
the video is scored from the run's stored embeddings (evaluate) or from its file (src.score), which know it
by different names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from data_modules.io import to_plain
from data_modules.registry import Registry
from data_modules.seeding import keyed_rng
from src.models.differential.operators import combine


@dataclass(frozen=True)
class PairSettings:
    """The `pairs` config group: how frames of one video are paired."""

    strategy: str = "paper"
    max_frames: int | None = 40
    pool_size: int = 8
    max_pairs: int | None = 32
    spacing: int = 4

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PairSettings:
        """Typed settings from a config mapping (keys this class lacks are ignored)."""
        return cls(**{f.name: to_plain(cfg[f.name]) for f in fields(cls) if f.name in cfg})


@dataclass(frozen=True)
class OperatorSettings:
    """The `pair_op` config group: the pair operator and whether features are L2-normalised."""

    name: str = "abs"
    l2_normalize: bool = True

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OperatorSettings:
        """Typed settings from a config mapping."""
        return cls(name=str(cfg["name"]), l2_normalize=bool(cfg["l2_normalize"]))


@dataclass(frozen=True)
class VideoEmbeddings:
    """One video's frame embeddings [T,D], classifier logits [T] and frame numbers [T]."""

    video_id: str
    embeddings: np.ndarray
    logits: np.ndarray
    frame_indices: np.ndarray

    def in_frame_order(self) -> VideoEmbeddings:
        """The same frames sorted by frame number, embeddings as float32."""
        order = np.argsort(np.asarray(self.frame_indices), kind="stable")
        return VideoEmbeddings(self.video_id, np.asarray(self.embeddings, dtype=np.float32)[order],
                               np.asarray(self.logits)[order], np.asarray(self.frame_indices)[order])


Pairing = Callable[[np.ndarray, PairSettings, np.random.Generator], list[tuple[int, int]]]
STRATEGIES: Registry[Pairing] = Registry("pairs.strategy")


@STRATEGIES.register("paper")
def _pool_pairs(chosen: np.ndarray, settings: PairSettings, rng: np.random.Generator) -> list[tuple[int, int]]:
    pool_size = max(1, min(int(settings.pool_size), len(chosen) // 2))
    pool = np.sort(rng.choice(chosen, pool_size, replace=False))
    others = np.setdiff1d(chosen, pool)
    partners = rng.choice(pool, len(others), replace=True)
    return [(int(a), int(b)) for a, b in zip(others, partners, strict=True)]


@STRATEGIES.register("all")
def _all_pairs(chosen: np.ndarray, settings: PairSettings, rng: np.random.Generator) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for i, a in enumerate(chosen) for b in chosen[i + 1:]]


@STRATEGIES.register("spaced")
def _spaced_pairs(chosen: np.ndarray, settings: PairSettings, rng: np.random.Generator) -> list[tuple[int, int]]:
    gap = max(1, min(int(settings.spacing), len(chosen) - 1))
    return [(int(chosen[i]), int(chosen[i + gap])) for i in range(len(chosen) - gap)]


def _cap(pairs: list[tuple[int, int]], max_pairs: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most max_pairs pairs (a seeded subset), each ordered (earlier, later), sorted."""
    out = np.asarray(sorted((min(p), max(p)) for p in pairs), dtype=np.int64).reshape(-1, 2)
    if max_pairs and len(out) > max_pairs:
        out = out[np.sort(rng.choice(len(out), max_pairs, replace=False))]
    return out


def pair_key(frame_indices: Iterable[int]) -> str:
    """The key a video's pairs are seeded by: its frame numbers, which every way of scoring it shares."""
    return "frames:" + ",".join(str(int(f)) for f in frame_indices)


def sample_pairs(num_frames: int, settings: PairSettings, seed: int, key: str) -> np.ndarray:
    """Pairs [P, 2] of positions into a video's sorted frame list, by settings.strategy.

    paper: up to max_frames frames, a partner pool of pool_size of them (at most half), every other frame
    paired with a random pool partner. all: every pair. spaced: frames `spacing` positions apart. `key` (with
    `seed`) picks the generator: pair_key of the video's frame numbers.
    """
    pairing = STRATEGIES.get(settings.strategy)
    if num_frames < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rng = keyed_rng(seed, "pairs", key)
    max_frames = settings.max_frames or num_frames
    chosen = np.sort(rng.choice(num_frames, min(num_frames, max_frames), replace=False))
    return _cap(pairing(chosen, settings, rng), settings.max_pairs, rng)


def pair_features(video: VideoEmbeddings, pairs: PairSettings, operator: OperatorSettings, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(features [P, D'], frame numbers [P, 2]) of one video's sampled pairs (video in frame order)."""
    pos = sample_pairs(len(video.embeddings), pairs, seed, pair_key(video.frame_indices))
    feats = combine(operator.name, video.embeddings[pos[:, 0]], video.embeddings[pos[:, 1]], operator.l2_normalize)
    return feats, np.asarray(video.frame_indices)[pos].reshape(-1, 2)


@dataclass(frozen=True)
class PairSet:
    """Pair features with the video and frame numbers each pair came from."""

    features: np.ndarray  # [P, D'] float32
    video_ids: np.ndarray  # [P] str
    frames: np.ndarray  # [P, 2] int64 frame numbers


def build_pairs(videos: Iterable[VideoEmbeddings], pairs: PairSettings, operator: OperatorSettings, seed: int
                ) -> PairSet:
    """Pair features of every video (videos with under two frames contribute none)."""
    feats, vids, frames = [], [], []
    for video in videos:
        f, fr = pair_features(video.in_frame_order(), pairs, operator, seed)
        feats.append(f)
        frames.append(fr)
        vids += [video.video_id] * len(f)
    if not vids:
        raise ValueError("no frame pairs: every listed video has fewer than two embedded frames")
    return PairSet(np.concatenate(feats), np.asarray(vids, dtype=np.str_), np.concatenate(frames))
