"""Open a bundle: verify its manifest, read its settings, and build the embedder of the chosen backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from data_modules.registry import Registry
from src.bundle.layout import (
    CONFIG_FILE,
    DETECTOR_DIR,
    EXTRACTOR_DIR,
    FACE_FILE,
    METRICS_FILE,
    ONNX_FILE,
    PREPROCESSING_FILE,
    BundleManifest,
    InferenceSettings,
)
from src.bundle.manifest import read_manifest
from src.models.extractor.inference import Embedder, FrameEmbedder
from src.models.extractor.net import FeatureExtractorNet, load_extractor
from src.models.extractor.onnx_inference import OnnxEmbedder


@dataclass(frozen=True)
class Bundle:
    """A verified bundle folder: its manifest, inference settings and the paths of its parts."""

    root: Path
    manifest: BundleManifest
    settings: InferenceSettings

    @property
    def bundle_id(self) -> str:
        """The manifest's short id."""
        return self.manifest.bundle_id

    @property
    def extractor_dir(self) -> Path:
        """model.onnx, model.safetensors and model.json."""
        return self.root / EXTRACTOR_DIR

    @property
    def detector_dir(self) -> Path:
        """The differential detector (DifferentialDetector.load reads it)."""
        return self.root / DETECTOR_DIR

    def network(self) -> FeatureExtractorNet:
        """The extractor as a torch module (saliency maps and the torch backend use it)."""
        return load_extractor(self.extractor_dir, "cuda" if torch.cuda.is_available() else "cpu")

    def config(self) -> DictConfig:
        """The training run's resolved config."""
        return OmegaConf.load(self.root / CONFIG_FILE)

    def metrics(self) -> dict[str, Any]:
        """The training run's results.json."""
        return json.loads((self.root / METRICS_FILE).read_text())


def open_bundle(root: Path | str) -> Bundle:
    """Verify the bundle at `root` (a changed, missing or extra file is a BundleError naming it) and open it."""
    root = Path(root)
    manifest = read_manifest(root)
    face = json.loads((root / FACE_FILE).read_text())
    if face.get("backend") == "insightface":
        face["model_dir"] = str(root / face["model_dir"])
    settings = InferenceSettings.from_json(json.loads((root / PREPROCESSING_FILE).read_text()), face)
    return Bundle(root, manifest, settings)


BACKENDS: Registry[Callable[[Bundle, int], Embedder]] = Registry("backend")


@BACKENDS.register("onnx")
def onnx_embedder(bundle: Bundle, batch_size: int) -> Embedder:
    """ONNX Runtime on model.onnx (CUDA provider when available)."""
    s = bundle.settings
    return OnnxEmbedder(bundle.extractor_dir / ONNX_FILE, s.image_size, list(s.mean), list(s.std), batch_size)


@BACKENDS.register("torch")
def torch_embedder(bundle: Bundle, batch_size: int) -> Embedder:
    """PyTorch on model.safetensors (CUDA when available)."""
    return FrameEmbedder(bundle.network(), batch_size)


def build_embedder(bundle: Bundle, backend: str = "onnx", batch_size: int = 64) -> Embedder:
    """The bundle's extractor on `backend` (onnx or torch)."""
    return BACKENDS.get(backend)(bundle, batch_size)
