"""Perturbed copies of a dataset's test videos: their face cache and embeddings, artifacts keyed by the
perturbation (the face config's `perturbation` and `perturbation_seed` enter both keys), so reruns reuse them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data_modules.cache import FaceCache
from data_modules.io import to_plain
from data_modules.perturb import Perturbation
from data_modules.sources import prepared_frames_of
from src.artifacts.embeddings import KIND, EmbeddingArtifact, embed_cache, read_embeddings
from src.artifacts.faces import build_face_cache
from src.artifacts.keys import embedding_key
from src.artifacts.store import ArtifactStore
from src.models.extractor.inference import FrameEmbedder

TEST_SPLITS = ("test",)


def perturbed_face(face: DictConfig, perturbation: Perturbation, seed: int) -> DictConfig:
    """The run's face config with the perturbation applied before detection."""
    return OmegaConf.create({**to_plain(face), "perturbation": perturbation.key, "perturbation_seed": seed})


def check_perturbable(data: DictConfig) -> None:
    """A clear error for a dataset whose faces come prepared (nothing to degrade before detection)."""
    if prepared_frames_of(data) is not None:
        raise ValueError(f"eval.perturbations degrades videos before face detection, but dataset '{data.name}' "
                         f"(adapter {data.adapter}) ships prepared face crops; set eval.perturbations=[] or "
                         "evaluate it from its videos")


def perturbed_embeddings(store: ArtifactStore, cfg: DictConfig, data: DictConfig, perturbation: Perturbation,
                         embedder: Callable[[], FrameEmbedder]) -> EmbeddingArtifact:
    """Embeddings of `data`'s test videos under `perturbation` by the run's extractor; the face cache and the
    embeddings are each built once. Severity 0 is the clean artifact itself."""
    if perturbation.is_identity:
        return read_embeddings(store, cfg, data)
    check_perturbable(data)
    face = perturbed_face(cfg.face, perturbation, int(cfg.seed))
    cache = FaceCache(build_face_cache(store, data, face, TEST_SPLITS).cache_dir)

    def build(work: Path) -> dict[str, Any]:
        rows = cache.read_index()
        table = embed_cache(cache, rows, embedder(), int(cfg.eval.get("embed_read_ahead", 4)),
                            f"{data.name} ({perturbation.key})")
        EmbeddingArtifact(table, rows).write(work)
        return {"dataset": data.name, "perturbation": perturbation.key, "videos": len(table),
                "frames": len(table.frame_indices)}

    key = embedding_key(cfg, data, face, TEST_SPLITS)
    path = store.get_or_build(KIND, key, build, meta={"dataset": data.name, "perturbation": perturbation.key})
    return EmbeddingArtifact.read(path)
