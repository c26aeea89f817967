"""Stage `embed`: the frozen extractor embeds every cached frame once per (checkpoint, dataset).

Writes the embedding artifact (src/artifacts/embeddings.py); for the training dataset it also embeds one
pseudo-fake per frame of its validation reals (fixed seed, on the inference crop, no flips), which calibrate
stage 2.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from data_modules.blending.config import BlendConfig
from data_modules.cache import FaceCache
from data_modules.crops import calibration_fakes
from data_modules.records import REAL, select_rows
from src.artifacts.embeddings import KIND, EmbeddingArtifact, EmbeddingTable, embed_cache, embed_videos
from src.artifacts.extractor import frame_embedder
from src.artifacts.faces import open_face_cache
from src.artifacts.keys import embedding_key
from src.config import datasets_in_run
from src.models.extractor.inference import FrameEmbedder
from src.stages import RunContext
from src.utils.logging import get_logger

log = get_logger(__name__)


def _build(work: Path, cfg: DictConfig, data: DictConfig, cache: FaceCache, embedder: FrameEmbedder,
           with_pseudo: bool) -> dict[str, Any]:
    rows = cache.read_index()
    read_ahead = int(cfg.eval.get("embed_read_ahead", 4))
    table = embed_cache(cache, rows, embedder, read_ahead, data.name)
    dim = embedder.embed_dim
    artifact = EmbeddingArtifact(table, rows)
    meta = {"dataset": data.name, "videos": len(table), "frames": len(table.frame_indices),
            "skipped_videos": len(rows) - len(table), "embed_dim": dim}
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
            embedder = frame_embedder(store, cfg)
        builder = partial(_build, cfg=cfg, data=data, cache=open_face_cache(store, data, cfg.face),
                          embedder=embedder, with_pseudo=data.name == cfg.data.name)
        path = store.get_or_build(KIND, key, builder, meta={"dataset": data.name})
        meta_file = path / "meta.json"
        out[data.name] = {"key": key, **(json.loads(meta_file.read_text()) if meta_file.is_file() else {})}
    return out
