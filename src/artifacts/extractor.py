"""The extractor artifact (`extractor/<extractor_key>`): model.safetensors + model.json (src.models.extractor.net),
and while training, checkpoints/ (top-k by val/auc plus last.ckpt) in its .partial work directory."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from src.artifacts.keys import extractor_key
from src.artifacts.store import ArtifactStore

KIND = "extractor"
CHECKPOINT_DIR, LAST = "checkpoints", "last.ckpt"


def extractor_dir(store: ArtifactStore, cfg: DictConfig) -> Path:
    """The finished extractor of this run's config, or an error saying to run `train_extractor`."""
    return store.require(KIND, extractor_key(cfg), made_by="train_extractor")
