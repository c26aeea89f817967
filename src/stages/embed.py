"""Stage `embed`: the frozen extractor embeds every cached frame once per (checkpoint, dataset).

Writes the embedding artifact (src/artifacts/embeddings.py); for the training dataset it also embeds one
pseudo-fake per frame of its validation reals (fixed seed, no flips), which calibrate stage 2.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from data_modules.blending.config import BlendConfig
from data_modules.cache import FaceCache
from data_modules.crops import calibration_fakes, inference_crops
from data_modules.records import REAL, select_rows
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


def _embed(embedder: FrameEmbedder, video_id: str, crops: list, frames: Any) -> VideoEmbeddings:
    embeddings, logits = embedder(crops)
    return VideoEmbeddings(video_id, embeddings, logits, frames)


def _build(work: Path, cfg: DictConfig, data: DictConfig, cache: FaceCache, embedder: FrameEmbedder,
           with_pseudo: bool) -> dict[str, Any]:
    rows = cache.read_index()
    usable = select_rows(rows)
    videos = []
    for n, row in enumerate(usable, 1):
        videos.append(_embed(embedder, row.video_id, *inference_crops(cache, row.video_id, embedder.size)))
        if n % 50 == 0:
            log.info("embed %s: %d/%d videos", data.name, n, len(usable))
    dim = embedder.embed_dim
    artifact = EmbeddingArtifact(EmbeddingTable.from_videos(videos, dim), rows)
    meta = {"dataset": data.name, "videos": len(videos), "frames": int(sum(len(v.frame_indices) for v in videos)),
            "skipped_videos": len(rows) - len(usable), "embed_dim": dim}
    if with_pseudo:
        # flips off: a per-frame random mirror would itself be a trivial "differential" cue
        blend = dataclasses.replace(BlendConfig.from_cfg(cfg.blend, embedder.size), hflip_p=0.0)
        fakes = [_embed(embedder, row.video_id, *calibration_fakes(cache, row.video_id, blend, int(cfg.seed)))
                 for row in select_rows(rows, "val", REAL)]
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
            embedder = FrameEmbedder(load_extractor(extractor_dir(store, cfg), device), int(cfg.eval.embed_batch_size))
        builder = partial(_build, cfg=cfg, data=data, cache=open_face_cache(store, data, cfg.face),
                          embedder=embedder, with_pseudo=data.name == cfg.data.name)
        path = store.get_or_build(KIND, key, builder, meta={"dataset": data.name})
        meta_file = path / "meta.json"
        out[data.name] = {"key": key, **(json.loads(meta_file.read_text()) if meta_file.is_file() else {})}
    return out
