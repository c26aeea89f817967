"""The extractor artifact (`extractor/<extractor_key>`): model.safetensors + model.json (src.models.extractor.net),
and while training, checkpoints/ (top-k by val/auc plus last.ckpt) in its .partial work directory."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from src.artifacts.keys import extractor_key
from src.artifacts.store import ArtifactStore
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import load_extractor

KIND = "extractor"
CHECKPOINT_DIR, LAST = "checkpoints", "last.ckpt"


def extractor_dir(store: ArtifactStore, cfg: DictConfig) -> Path:
    """The finished extractor of this run's config, or an error saying to run `train_extractor`."""
    return store.require(KIND, extractor_key(cfg), made_by="train_extractor")


def frame_embedder(store: ArtifactStore, cfg: DictConfig) -> FrameEmbedder:
    """The run's finished extractor on the GPU when there is one, batching eval.embed_batch_size frames at
    eval.embed_precision."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return FrameEmbedder(load_extractor(extractor_dir(store, cfg), device), int(cfg.eval.embed_batch_size),
                         str(cfg.eval.get("embed_precision", "auto")))
