"""The embedding artifact (`embeddings/<embedding_key>`): every cached frame of one dataset embedded once.

    embeddings.npz   EmbeddingTable: float32 embeddings and logits by video_id and frame number
    videos.json      the face-cache index rows, skipped videos included
    pseudo_val.npz   training dataset only: pseudo-fakes of its validation reals, for calibration
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from data_modules.cache import FaceCache
from data_modules.crops import inference_crops
from data_modules.io import atomic_save_npz, atomic_write_json, load_npz, read_json, reading
from data_modules.prefetch import map_ahead
from data_modules.records import IndexRow, select_rows
from data_modules.workers import usable_cpus
from src.artifacts.keys import embedding_key
from src.artifacts.store import ArtifactStore
from src.models.differential.pairs import VideoEmbeddings
from src.models.extractor.inference import FrameEmbedder
from src.utils.logging import get_logger

log = get_logger(__name__)

KIND = "embeddings"
EMBEDDINGS_FILE, PSEUDO_FILE, ROWS_FILE = "embeddings.npz", "pseudo_val.npz", "videos.json"
# Embeddings are stored at the extractor's float32 precision, as the reference keeps them: the heads fit on
# exactly what a video scored from its file (src.score) gives them, so it gets evaluate's scores to the bit
# (float16 storage made them differ by up to 5e-2 on the GMM's log-likelihoods, and by 2e-4 relative between
# ONNX and PyTorch extractors where a value fell on a float16 rounding boundary).
STORED = np.float32


@dataclass
class EmbeddingTable:
    """Embeddings of every cached frame of one dataset, grouped by video (rows sorted by frame number)."""

    video_ids: np.ndarray  # [V] str, sorted
    offsets: np.ndarray  # [V+1] int64: video v owns rows offsets[v]:offsets[v+1]
    frame_indices: np.ndarray  # [N] int64
    embeddings: np.ndarray  # [N, D] float32
    logits: np.ndarray  # [N] float32

    def __post_init__(self) -> None:
        self._where = {str(v): i for i, v in enumerate(self.video_ids)}

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._where

    def __len__(self) -> int:
        return len(self.video_ids)

    def video(self, video_id: str) -> VideoEmbeddings:
        """One video's float32 embeddings, logits and frame numbers."""
        if video_id not in self._where:
            raise KeyError(f"video '{video_id}' has no embeddings; rerun the embed stage")
        i = self._where[video_id]
        rows = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return VideoEmbeddings(video_id, self.embeddings[rows].astype(np.float32), self.logits[rows],
                               self.frame_indices[rows])

    def videos(self) -> list[VideoEmbeddings]:
        """Every video, in video_id order."""
        return [self.video(str(v)) for v in self.video_ids]

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.embeddings.shape[1])

    @classmethod
    def from_videos(cls, videos: list[VideoEmbeddings], dim: int) -> EmbeddingTable:
        """Build from videos; tables are sorted by video_id, each video's rows by frame number."""
        parts = sorted((v.in_frame_order() for v in videos), key=lambda v: v.video_id)
        offsets = np.cumsum([0] + [len(v.frame_indices) for v in parts]).astype(np.int64)

        def cat(name: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            chunks = [np.asarray(getattr(v, name)) for v in parts]
            return np.concatenate(chunks).astype(dtype) if chunks else np.zeros(shape, dtype)

        return cls(np.asarray([v.video_id for v in parts], dtype=np.str_), offsets,
                   cat("frame_indices", np.int64, (0,)), cat("embeddings", STORED, (0, dim)),
                   cat("logits", np.float32, (0,)))

    def save(self, path: Path) -> None:
        """Atomic uncompressed npz (no pickle)."""
        atomic_save_npz(path, video_ids=self.video_ids, offsets=self.offsets, frame_indices=self.frame_indices,
                        embeddings=self.embeddings, logits=self.logits)

    @classmethod
    def load(cls, path: Path) -> EmbeddingTable:
        """Read a table written by `save`."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no embedding table at {path}; run the embed stage")
        return cls(**load_npz(path, f"delete {Path(path).parent} and rerun the embed stage to rebuild it"))


@dataclass
class EmbeddingArtifact:
    """One dataset's embeddings, its index rows, and (training dataset only) the calibration pseudo-fakes."""

    table: EmbeddingTable
    rows: list[IndexRow]
    pseudo: EmbeddingTable | None = None

    def videos(self, split: str, label: int | None = None) -> list[VideoEmbeddings]:
        """Embedded videos of a split (and label), in index order."""
        return [self.table.video(r.video_id) for r in select_rows(self.rows, split, label) if r.video_id in self.table]

    def write(self, directory: Path) -> None:
        """Write the artifact's files into `directory`."""
        self.table.save(directory / EMBEDDINGS_FILE)
        atomic_write_json(directory / ROWS_FILE, [asdict(r) for r in self.rows])
        if self.pseudo is not None:
            self.pseudo.save(directory / PSEUDO_FILE)

    @classmethod
    def read(cls, directory: Path) -> EmbeddingArtifact:
        """Read a written artifact."""
        fix = f"delete {directory} and rerun the embed stage to rebuild it"
        with reading(directory / ROWS_FILE, fix):
            rows = [IndexRow.from_strings(r) for r in read_json(directory / ROWS_FILE, fix)]
        pseudo = directory / PSEUDO_FILE
        return cls(EmbeddingTable.load(directory / EMBEDDINGS_FILE), rows,
                   EmbeddingTable.load(pseudo) if pseudo.is_file() else None)


def embed_videos(embedder: FrameEmbedder, video_ids: list[str],
                 read: Callable[[str], tuple[list[np.ndarray], np.ndarray]], read_ahead: int, label: str = ""
                 ) -> list[VideoEmbeddings]:
    """Embed each video's crops (`read(video_id)` -> crops, frame numbers), reading up to `read_ahead` videos
    ahead in background threads (one per usable CPU, at most read_ahead) while the network runs; consecutive
    videos share batches."""
    reads = map_ahead(read, video_ids, read_ahead, min(read_ahead, usable_cpus()))
    videos = (((v, frames), crops) for v, (crops, frames) in zip(video_ids, reads, strict=True))
    out = []
    for n, ((video_id, frames), embeddings, logits) in enumerate(embedder.embed_videos(videos), 1):
        out.append(VideoEmbeddings(video_id, embeddings, logits, frames))
        if label and n % 50 == 0:
            log.info("embed %s: %d/%d videos", label, n, len(video_ids))
    return out


def embed_cache(cache: FaceCache, rows: list[IndexRow], embedder: FrameEmbedder, read_ahead: int, label: str
                ) -> EmbeddingTable:
    """Every cached frame of the usable `rows` embedded (inference crops), as a table."""
    video_ids = [r.video_id for r in select_rows(rows)]
    read = partial(inference_crops, cache, size=embedder.size)
    return EmbeddingTable.from_videos(embed_videos(embedder, video_ids, read, read_ahead, label), embedder.embed_dim)


def read_embeddings(store: ArtifactStore, cfg: DictConfig, data: DictConfig) -> EmbeddingArtifact:
    """The finished embeddings of `data` under this run's extractor, or an error saying to run `embed`."""
    return EmbeddingArtifact.read(store.require(KIND, embedding_key(cfg, data), made_by="embed"))
