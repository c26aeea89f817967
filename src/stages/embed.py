"""Stage `embed`: the frozen extractor embeds every cached frame once per (checkpoint, dataset).

Artifact embeddings/<embedding_key>: embeddings.npz (float16 embeddings, float32 logits by video_id and
frame number), videos.json (the face-cache index rows, skipped videos included) and, for the training
dataset, pseudo_val.npz: pseudo-fakes of its validation reals (one per frame, fixed seed) for calibration.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from data_modules.blending import BlendConfig, crop_face, make_pseudo_fake
from data_modules.cache import FaceCache
from data_modules.normalize import normalize_images
from data_modules.pairs import EmbeddingTable, save_rows, video_rng
from data_modules.records import REAL, STATUS_OK
from src.stages import RunContext
from src.stages.keys import datasets_in_run, embedding_key, extractor_key, open_face_cache
from src.utils.logging import get_logger

log = get_logger(__name__)
EMBEDDINGS_FILE, PSEUDO_FILE, ROWS_FILE = "embeddings.npz", "pseudo_val.npz", "videos.json"


class FrameEmbedder:
    """Inference crops -> normalised batches -> (embeddings, logits) with the frozen extractor."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size
        self.size = int(model.image_size)
        device = next(model.parameters()).device
        self.mean = torch.tensor(model.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(model.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [S,S,3] images -> (embeddings [T,D] float32, logits [T] float32)."""
        embs, logits = [], []
        for i in range(0, len(images), self.batch_size):
            x = torch.from_numpy(np.stack(images[i:i + self.batch_size])).to(self.mean.device)
            x = normalize_images(x, self.mean, self.std)
            logit, emb = self.model(x)
            embs.append(emb.float().cpu().numpy())
            logits.append(logit.float().cpu().numpy())
        return np.concatenate(embs), np.concatenate(logits)


def _inference_crops(cache: FaceCache, video_id: str, size: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(deterministic crops, their landmarks, frame numbers) of one cached video."""
    faces = cache.read_faces(video_id)
    crops = [crop_face(cache.read_crop(video_id, t), faces.landmarks[t], size)[0] for t in range(faces.num_frames)]
    return crops, faces.landmarks, faces.frame_indices


def pseudo_fake_crops(cache: FaceCache, video_id: str, blend: BlendConfig, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """One self-blended fake per frame (seeded per video, no flips), re-cropped like a test frame."""
    rng = video_rng(seed, "pseudo_fake", video_id)
    faces = cache.read_faces(video_id)
    crops = []
    for t in range(faces.num_frames):
        fake = make_pseudo_fake(cache.read_crop(video_id, t), faces.landmarks[t], rng, blend)
        crops.append(crop_face(fake.fake, fake.landmarks, blend.image_size)[0])
    return crops, faces.frame_indices


def _build(work: Path, cfg: DictConfig, data: DictConfig, cache: FaceCache, embedder: FrameEmbedder,
           with_pseudo: bool) -> dict[str, Any]:
    rows = cache.read_index()
    ok = [r for r in rows if r.status == STATUS_OK and r.num_frames > 0]
    videos = {}
    for n, row in enumerate(ok, 1):
        crops, _, frames = _inference_crops(cache, row.video_id, embedder.size)
        videos[row.video_id] = (*embedder(crops), frames)
        if n % 50 == 0:
            log.info("embed %s: %d/%d videos", data.name, n, len(ok))
    dim = int(embedder.model.embed_dim)
    EmbeddingTable.from_videos(videos, dim).save(work / EMBEDDINGS_FILE)
    save_rows(work / ROWS_FILE, [asdict(r) for r in rows])
    meta = {"dataset": data.name, "videos": len(videos), "frames": int(sum(len(v[2]) for v in videos.values())),
            "skipped_videos": len(rows) - len(ok), "embed_dim": dim}
    if with_pseudo:
        # flips off: a per-frame random mirror would itself be a trivial "differential" cue
        blend = dataclasses.replace(BlendConfig.from_cfg(cfg.blend, embedder.size), hflip_p=0.0)
        fakes = {}
        for row in (r for r in ok if r.split == "val" and r.label == REAL):
            crops, frames = pseudo_fake_crops(cache, row.video_id, blend, int(cfg.seed))
            fakes[row.video_id] = (*embedder(crops), frames)
        EmbeddingTable.from_videos(fakes, dim).save(work / PSEUDO_FILE)
        meta["pseudo_fake_videos"] = len(fakes)
    return meta


def embedding_dir(ctx: RunContext, data: DictConfig) -> Path:
    """The finished embedding artifact of `data`, or an error saying to run `embed`."""
    return ctx.store.require("embeddings", embedding_key(ctx.cfg, data), made_by="embed")


def run(ctx: RunContext) -> dict[str, Any]:
    """Embed every dataset of the run (reusing finished artifacts); returns per-dataset counts."""
    from src.models.extractor import load_extractor

    cfg, store = ctx.cfg, ctx.store
    embedder: FrameEmbedder | None = None
    out: dict[str, Any] = {}
    for data in datasets_in_run(cfg):
        key = embedding_key(cfg, data)
        if not store.is_complete("embeddings", key) and embedder is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            model = load_extractor(store.require("extractor", extractor_key(cfg), made_by="train_extractor"), device)
            embedder = FrameEmbedder(model, int(cfg.eval.embed_batch_size))
        cache = open_face_cache(store, data, cfg.face)
        builder = partial(_build, cfg=cfg, data=data, cache=cache, embedder=embedder,
                          with_pseudo=data.name == cfg.data.name)
        path = store.get_or_build("embeddings", key, builder, meta={"dataset": data.name})
        meta_file = path / "meta.json"
        out[data.name] = {"key": key, **(json.loads(meta_file.read_text()) if meta_file.is_file() else {})}
    return out
