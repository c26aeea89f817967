"""Artifact keys: each artifact is named by a hash of exactly the config subtrees it depends on."""

from __future__ import annotations

from omegaconf import DictConfig

from data_modules.preprocess.shards import SHARD_KEYS
from src.artifacts.store import config_hash

# Settings that change speed or logging, never results, stay out of the keys.
_FACE_RUNTIME = ("num_workers", *SHARD_KEYS)
_EXTRACTOR_RUNTIME = ("num_workers", "prefetch_factor", "compile", "cuda_graphs")
_TRAINER_RESULT_KEYS = ("max_epochs", "limit_train_batches", "limit_val_batches", "precision",
                        "gradient_clip_val", "devices", "num_nodes")


def _without(cfg: DictConfig, drop: tuple[str, ...]) -> dict:
    return {k: v for k, v in cfg.items() if k not in drop}


def face_cache_key(data: DictConfig, face: DictConfig, splits: tuple[str, ...] | None = None) -> str:
    """Face cache of one dataset with one detector configuration (perturbation included), of every video or
    only those of `splits`."""
    subtree = {k: data[k] for k in ("adapter", "root", "frames_per_video", "options")}
    parts = (subtree, _without(face, _FACE_RUNTIME), *([sorted(splits)] if splits is not None else []))
    return f"{data.name}-{config_hash(*parts)}"


def extractor_key(cfg: DictConfig) -> str:
    """Stage-1 checkpoint: training data, blend, backbone, optimisation, trainer numerics and seed."""
    trainer = {k: cfg.trainer.get(k) for k in _TRAINER_RESULT_KEYS}
    return f"{cfg.backbone.name}-" + config_hash(
        face_cache_key(cfg.data, cfg.face), cfg.blend, cfg.backbone, _without(cfg.extractor, _EXTRACTOR_RUNTIME),
        trainer, cfg.seed,
    )


def embedding_key(cfg: DictConfig, data: DictConfig, face: DictConfig | None = None,
                  splits: tuple[str, ...] | None = None) -> str:
    """Embeddings of one dataset's cached frames (by default the run's face cache) by one extractor checkpoint."""
    return f"{data.name}-" + config_hash(extractor_key(cfg), face_cache_key(data, cfg.face if face is None else face,
                                                                           splits))


def pseudo_val_key(cfg: DictConfig) -> str:
    """Fixed pseudo-fake validation set: the real videos it is made from, blend, image size, size and seed."""
    return config_hash(face_cache_key(cfg.data, cfg.face), cfg.blend, cfg.backbone.image_size,
                       cfg.extractor.val_size, cfg.seed)
