"""Same-video frame pairs for stage 2: the embedding table, seeded pair sampling protocols, pair features.

Pairs index positions in a video's frame list sorted by frame number, and each video draws from its own
np.random.Generator seeded by a SHA-256 of (seed, video_id), so pairs are the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from data_modules.io import atomic_save_npz, atomic_write_json, load_npz
from src.models.pair_ops import combine

STRATEGIES = ("paper", "all", "spaced")


def video_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded from (seed, keys) by SHA-256, identical across machines and Python runs."""
    digest = hashlib.sha256(json.dumps([int(seed), *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _cap(pairs: list[tuple[int, int]], max_pairs: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most max_pairs pairs (a seeded subset), each ordered (earlier, later), sorted."""
    out = np.asarray(sorted((min(p), max(p)) for p in pairs), dtype=np.int64).reshape(-1, 2)
    if max_pairs and len(out) > max_pairs:
        out = out[np.sort(rng.choice(len(out), max_pairs, replace=False))]
    return out


def sample_pairs(num_frames: int, pairs_cfg: DictConfig | dict[str, Any], seed: int, video_id: str) -> np.ndarray:
    """Pairs [P, 2] of positions into a video's sorted frame list, by cfg.strategy (paper | all | spaced).

    paper: up to max_frames frames, a partner pool of pool_size of them (at most half), every other frame
    paired with a random pool partner. all: every pair. spaced: frames `spacing` positions apart.
    """
    strategy = pairs_cfg["strategy"]
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown pairs.strategy '{strategy}'; valid choices: {', '.join(STRATEGIES)}")
    if num_frames < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rng = video_rng(seed, "pairs", video_id)
    max_frames = pairs_cfg.get("max_frames") or num_frames
    chosen = np.sort(rng.choice(num_frames, min(num_frames, max_frames), replace=False))
    max_pairs = pairs_cfg.get("max_pairs")
    if strategy == "all":
        pairs = [(int(a), int(b)) for i, a in enumerate(chosen) for b in chosen[i + 1:]]
    elif strategy == "spaced":
        gap = max(1, min(int(pairs_cfg.get("spacing", 1)), len(chosen) - 1))
        pairs = [(int(chosen[i]), int(chosen[i + gap])) for i in range(len(chosen) - gap)]
    else:
        pool_size = max(1, min(int(pairs_cfg["pool_size"]), len(chosen) // 2))
        pool = np.sort(rng.choice(chosen, pool_size, replace=False))
        others = np.setdiff1d(chosen, pool)
        partners = rng.choice(pool, len(others), replace=True)
        pairs = [(int(a), int(b)) for a, b in zip(others, partners, strict=True)]
    return _cap(pairs, max_pairs, rng)


@dataclass
class EmbeddingTable:
    """Embeddings of every cached frame of one dataset, grouped by video (rows sorted by frame number)."""

    video_ids: np.ndarray  # [V] str, sorted
    offsets: np.ndarray  # [V+1] int64: video v owns rows offsets[v]:offsets[v+1]
    frame_indices: np.ndarray  # [N] int64
    embeddings: np.ndarray  # [N, D] float16
    logits: np.ndarray  # [N] float32

    def __post_init__(self) -> None:
        self._where = {str(v): i for i, v in enumerate(self.video_ids)}

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._where

    def video(self, video_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings float32 [T, D], logits [T], frame_indices [T]) of one video."""
        if video_id not in self._where:
            raise KeyError(f"video '{video_id}' has no embeddings; rerun the embed stage")
        i = self._where[video_id]
        rows = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return self.embeddings[rows].astype(np.float32), self.logits[rows], self.frame_indices[rows]

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.embeddings.shape[1])

    @classmethod
    def from_videos(cls, videos: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], dim: int) -> EmbeddingTable:
        """Build from {video_id: (embeddings, logits, frame_indices)}; rows are sorted by frame number."""
        ids = sorted(videos)
        parts = [videos[v] for v in ids]
        orders = [np.argsort(f, kind="stable") for _, _, f in parts]
        offsets = np.cumsum([0] + [len(f) for _, _, f in parts]).astype(np.int64)

        def cat(k: int, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            chunks = [np.asarray(p[k])[o] for p, o in zip(parts, orders, strict=True)]
            return np.concatenate(chunks).astype(dtype) if chunks else np.zeros(shape, dtype)

        return cls(np.asarray(ids, dtype=np.str_), offsets, cat(2, np.int64, (0,)), cat(0, np.float16, (0, dim)),
                   cat(1, np.float32, (0,)))

    def save(self, path: Path) -> None:
        """Atomic uncompressed npz (no pickle)."""
        atomic_save_npz(path, video_ids=self.video_ids, offsets=self.offsets, frame_indices=self.frame_indices,
                        embeddings=self.embeddings, logits=self.logits)

    @classmethod
    def load(cls, path: Path) -> EmbeddingTable:
        """Read a table written by `save`."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no embedding table at {path}; run the embed stage")
        return cls(**load_npz(path))


def save_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """The face-cache index rows (all of them, skipped ones included) stored next to the embeddings."""
    atomic_write_json(path, rows)


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Rows written by `save_rows`."""
    return json.loads(Path(path).read_text())


@dataclass
class PairSet:
    """Pair features with the video and frame numbers each pair came from."""

    features: np.ndarray  # [P, D'] float32
    video_ids: np.ndarray  # [P] str
    frames: np.ndarray  # [P, 2] int64 frame numbers


def video_pair_features(embeddings: np.ndarray, frame_indices: np.ndarray, pairs_cfg: DictConfig | dict,
                        op_cfg: DictConfig | dict, seed: int, video_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(features [P, D'], frame numbers [P, 2]) of one video's sampled pairs."""
    pos = sample_pairs(len(embeddings), pairs_cfg, seed, video_id)
    feats = combine(op_cfg["name"], embeddings[pos[:, 0]], embeddings[pos[:, 1]], bool(op_cfg["l2_normalize"]))
    return feats, np.asarray(frame_indices)[pos].reshape(-1, 2)


def build_pairs(table: EmbeddingTable, video_ids: list[str], pairs_cfg: DictConfig | dict,
                op_cfg: DictConfig | dict, seed: int) -> PairSet:
    """Pair features of every listed video (videos with under two frames contribute none)."""
    feats, vids, frames = [], [], []
    for vid in video_ids:
        emb, _, idx = table.video(vid)
        f, fr = video_pair_features(emb, idx, pairs_cfg, op_cfg, seed, vid)
        feats.append(f)
        frames.append(fr)
        vids += [vid] * len(f)
    if not vids:
        raise ValueError("no frame pairs: every listed video has fewer than two embedded frames")
    return PairSet(np.concatenate(feats), np.asarray(vids, dtype=np.str_), np.concatenate(frames))
