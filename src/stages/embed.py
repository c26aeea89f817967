"""Stage `embed`: the frozen extractor embeds every cached frame once per (checkpoint, dataset).

Writes the embedding artifact (src/artifacts/embeddings.py); for the training dataset it also embeds one
pseudo-fake per frame of its validation reals (fixed seed, on the inference crop, no flips), which calibrate
stage 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from data_modules.blending.config import BlendConfig
from data_modules.cache import FaceCache
from data_modules.crops import calibration_fakes, inference_crops
from data_modules.prefetch import map_ahead
from data_modules.records import REAL, select_rows
from data_modules.workers import usable_cpus
from src.artifacts.embeddings import KIND, EmbeddingArtifact, EmbeddingTable
from src.artifacts.extractor import extractor_dir
from src.artifacts.faces import open_face_cache
from src.artifacts.keys import embedding_key
from src.config import datasets_in_run
from src.models.differential.pairs import VideoEmbeddings
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import load_extractor
from src.stages import RunContext
from src.utils.logging import get_logger

log = get_logger(__name__)


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


def _build(work: Path, cfg: DictConfig, data: DictConfig, cache: FaceCache, embedder: FrameEmbedder,
           with_pseudo: bool) -> dict[str, Any]:
    rows = cache.read_index()
    usable = select_rows(rows)
    read_ahead = int(cfg.eval.get("embed_read_ahead", 4))
    videos = embed_videos(embedder, [r.video_id for r in usable], partial(inference_crops, cache, size=embedder.size),
                          read_ahead, data.name)
    dim = embedder.embed_dim
    artifact = EmbeddingArtifact(EmbeddingTable.from_videos(videos, dim), rows)
    meta = {"dataset": data.name, "videos": len(videos), "frames": int(sum(len(v.frame_indices) for v in videos)),
            "skipped_videos": len(rows) - len(usable), "embed_dim": dim}
    if with_pseudo:
        blend = BlendConfig.from_cfg(cfg.blend, embedder.size)
        fakes = embed_videos(embedder, [r.video_id for r in select_rows(rows, "val", REAL)],
                             partial(calibration_fakes, cache, blend=blend, seed=int(cfg.seed)), read_ahead)
        artifact.pseudo = EmbeddingTable.from_videos(fakes, dim)
        meta["pseudo_fake_videos"] = len(fakes)
    artifact.write(work)
    return meta


def run(ctx: RunContext) -> dict[str, Any]:
    """Embed every dataset of the run (reusing finished artifacts); returns per-dataset counts."""
    cfg, store = ctx.cfg, ctx.store
    embedder: FrameEmbedder | None = None
    out: dict[str, Any] = {}
    for data in datasets_in_run(cfg):
        key = embedding_key(cfg, data)
        if not store.is_complete(KIND, key) and embedder is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            embedder = FrameEmbedder(load_extractor(extractor_dir(store, cfg), device), int(cfg.eval.embed_batch_size),
                                     str(cfg.eval.get("embed_precision", "auto")))
        builder = partial(_build, cfg=cfg, data=data, cache=open_face_cache(store, data, cfg.face),
                          embedder=embedder, with_pseudo=data.name == cfg.data.name)
        path = store.get_or_build(KIND, key, builder, meta={"dataset": data.name})
        meta_file = path / "meta.json"
        out[data.name] = {"key": key, **(json.loads(meta_file.read_text()) if meta_file.is_file() else {})}
    return out
