"""The bundle layout, defined once: file names, the inference settings and the typed manifest.

    manifest.json          BundleManifest: format, package and library versions, SHA-256 of every other file
    extractor/             model.onnx (opset >= 17, dynamic batch), model.safetensors + model.json (torch)
    detector/              scorer.json, calibration.json, heads/<name>/ (DifferentialDetector.save)
    preprocessing.json     frames per video, input size, mean/std, crop margin (InferenceSettings)
    face.json              the face detector and crop settings; face_models/ holds insightface's model files
    config.yaml            the training run's resolved config
    metrics.json           the training run's results.json
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST = "manifest.json"
EXTRACTOR_DIR, ONNX_FILE = "extractor", "model.onnx"
DETECTOR_DIR = "detector"
PREPROCESSING_FILE, FACE_FILE, FACE_MODELS_DIR = "preprocessing.json", "face.json", "face_models"
CONFIG_FILE, METRICS_FILE = "config.yaml", "metrics.json"
FORMAT, FORMAT_VERSION = "difffake-bundle", 1
ID_LENGTH = 12


@dataclass(frozen=True)
class InferenceSettings:
    """How a suspect video becomes network input: frames sampled, face detector and crop, input size and
    normalisation (RGB, 0..1 scale)."""

    face: dict[str, Any]
    frames_per_video: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_margin: float

    def preprocessing_json(self) -> dict[str, Any]:
        """preprocessing.json content (face.json holds `face`)."""
        return {k: v for k, v in asdict(self).items() if k != "face"}

    @classmethod
    def from_json(cls, preprocessing: dict[str, Any], face: dict[str, Any]) -> InferenceSettings:
        """From preprocessing.json and face.json."""
        return cls(face=dict(face), frames_per_video=int(preprocessing["frames_per_video"]),
                   image_size=int(preprocessing["image_size"]), mean=tuple(map(float, preprocessing["mean"])),
                   std=tuple(map(float, preprocessing["std"])), crop_margin=float(preprocessing["crop_margin"]))


def canonical_json(data: Any) -> bytes:
    """The one byte form of a manifest: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass(frozen=True)
class BundleManifest:
    """What a bundle holds and how to check it: SHA-256 per file (relative POSIX path), versions, origin.

    `checksum` is the SHA-256 of every other field in canonical JSON, so a changed manifest is detected too;
    the bundle id is its first characters."""

    package_version: str
    created: str
    source_run: str
    files: dict[str, str]
    versions: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    checksum: str = ""

    @property
    def bundle_id(self) -> str:
        """Short id of this bundle: the first characters of its checksum."""
        return self.checksum[:ID_LENGTH]

    def content(self) -> dict[str, Any]:
        """Every field except the checksum."""
        return {k: v for k, v in asdict(self).items() if k != "checksum"}

    def computed_checksum(self) -> str:
        """SHA-256 of the canonical JSON of `content()`."""
        return hashlib.sha256(canonical_json(self.content())).hexdigest()

    def sealed(self) -> BundleManifest:
        """This manifest with its checksum set."""
        return BundleManifest(**{**self.content(), "checksum": self.computed_checksum()})

    def to_bytes(self) -> bytes:
        """manifest.json content."""
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BundleManifest:
        """Inverse of `to_bytes` (after json.loads); unknown or missing keys raise KeyError/TypeError."""
        return cls(**data)
