"""The bundle's manifest and settings on small synthetic folders: sealed and read back, ids, and insightface's
model files travelling inside the bundle."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from data_modules.io import atomic_write_json
from data_modules.preprocess import build_detector
from src.bundle.export import write_face
from src.bundle.layout import MANIFEST, PREPROCESSING_FILE, BundleManifest, InferenceSettings
from src.bundle.load import open_bundle
from src.bundle.manifest import read_manifest, write_manifest
from tests.onnx_models import write_model_pack


def _bundle(root: Path, face: dict[str, Any]) -> Path:
    """A folder with the settings files of a bundle (no models), sealed."""
    root.mkdir()
    settings = InferenceSettings(face=face, frames_per_video=8, image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3,
                                 crop_margin=0.125)
    atomic_write_json(root / PREPROCESSING_FILE, settings.preprocessing_json())
    write_face(root, face)
    write_manifest(root, "outputs/demo/runs/x")
    return root


def test_the_manifest_round_trips_and_the_id_is_the_start_of_its_checksum(tmp_path) -> None:
    root = _bundle(tmp_path / "b", {"backend": "dlib", "crop_scale": 2.0})
    manifest = read_manifest(root)
    assert manifest == BundleManifest.from_json(json.loads((root / MANIFEST).read_text()))
    assert manifest.checksum == manifest.computed_checksum() and manifest.bundle_id == manifest.checksum[:12]
    assert sorted(manifest.files) == ["face.json", PREPROCESSING_FILE]
    assert manifest.files["face.json"] == hashlib.sha256((root / "face.json").read_bytes()).hexdigest()
    assert manifest.source_run == "outputs/demo/runs/x" and manifest.format_version == 1
    settings = open_bundle(root).settings
    assert settings == InferenceSettings({"backend": "dlib", "crop_scale": 2.0}, 8, 32, (0.5,) * 3, (0.25,) * 3, 0.125)


def test_insightface_model_files_travel_inside_the_bundle(tmp_path) -> None:
    pack = write_model_pack(tmp_path / "buffalo_l")
    root = _bundle(tmp_path / "b", {"backend": "insightface", "model_dir": str(pack), "det_size": 160})
    shutil.rmtree(pack)  # the pack the run used is gone: the bundle's copy is used
    opened = open_bundle(root)
    assert sorted(opened.manifest.files) == ["face.json", "face_models/1k3d68.onnx", "face_models/det_10g.onnx",
                                             PREPROCESSING_FILE]
    assert json.loads((root / "face.json").read_text())["model_dir"] == "face_models"
    assert opened.settings.face["model_dir"] == str(root / "face_models")
    faces = build_detector(opened.settings.face).detect(np.full((160, 160, 3), 255, np.uint8))
    assert faces  # the stand-in detector, loaded from the bundle's copy, finds its white cells
