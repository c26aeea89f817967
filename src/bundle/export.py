"""Export a finished run as a bundle: everything scoring needs, in one folder checked by its manifest.

Written into `<out>.partial/` and renamed when complete, so a bundle folder is never half written.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_modules.cli import InputFileError
from data_modules.io import atomic_write_json
from data_modules.preprocess.insightface_backend import find_models
from src.artifacts.extractor import extractor_dir
from src.artifacts.store import ArtifactStore
from src.bundle.layout import (
    CONFIG_FILE,
    DETECTOR_DIR,
    EXTRACTOR_DIR,
    FACE_FILE,
    FACE_MODELS_DIR,
    MANIFEST,
    METRICS_FILE,
    ONNX_FILE,
    PREPROCESSING_FILE,
    BundleManifest,
)
from src.bundle.manifest import write_manifest
from src.bundle.run import load_run_config, run_settings
from src.models.differential.scorer import DifferentialDetector
from src.models.extractor.export import OPSET, export_onnx
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import META_NAME, WEIGHTS_NAME, FeatureExtractorNet, load_extractor
from src.models.extractor.onnx_inference import OnnxEmbedder
from src.utils.logging import get_logger

log = get_logger(__name__)

RESULTS_FILE = "results.json"
PARITY_TOLERANCE = 1e-3  # export fails above this; the test suite holds the demo extractor to 1e-4


@dataclass(frozen=True)
class ExportReport:
    """A written bundle: where, its manifest, the ONNX-vs-torch difference checked at export, seconds taken."""

    path: Path
    manifest: BundleManifest
    onnx_max_abs_diff: float
    seconds: float


def onnx_difference(net: FeatureExtractorNet, onnx_path: Path, seed: int = 0) -> float:
    """Largest |ONNX Runtime - torch| over the logits and embeddings of a few random images."""
    rng = np.random.default_rng(seed)
    images = list(rng.integers(0, 256, (4, net.image_size, net.image_size, 3), dtype=np.uint8))
    torch_out = FrameEmbedder(net, batch_size=4)(images)
    onnx_out = OnnxEmbedder(onnx_path, net.image_size, net.mean, net.std, batch_size=4)(images)
    return float(max(np.abs(a - b).max() for a, b in zip(torch_out, onnx_out, strict=True)))


def write_face(work: Path, face: dict) -> None:
    """face.json; insightface's model files are copied in and the settings point at them."""
    if face.get("backend") == "insightface":
        (work / FACE_MODELS_DIR).mkdir()
        for model in find_models(face["model_dir"]):
            shutil.copy2(model, work / FACE_MODELS_DIR / model.name)
        face = {**face, "model_dir": FACE_MODELS_DIR}
    atomic_write_json(work / FACE_FILE, face)


def _prepare_out(out: Path, overwrite: bool) -> Path:
    """The work folder `<out>.partial` (emptied); an existing `out` must be a bundle and overwrite=true."""
    if out.exists():
        if not overwrite:
            raise InputFileError(f"{out} already exists: pass overwrite=true to replace it, or choose another out=")
        if not (out / MANIFEST).is_file():
            raise InputFileError(f"{out} exists and is not a bundle (no {MANIFEST}); not replacing it")
    work = out.with_name(f"{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def export_bundle(run_dir: Path | str, out: Path | str, artifact_dir: Path | str | None = None, opset: int = OPSET,
                  overwrite: bool = False) -> ExportReport:
    """Write the bundle of a finished run (fit_head done: heads and calibration in the run dir) to `out`."""
    start = time.perf_counter()
    run_dir, out = Path(run_dir), Path(out)
    cfg = load_run_config(run_dir)
    detector = DifferentialDetector.load(run_dir)
    if detector.calibration is None:
        raise FileNotFoundError(f"{run_dir} has no calibration.json: run the fit_head stage into this run dir")
    source = extractor_dir(ArtifactStore(artifact_dir or cfg.paths.artifact_dir), cfg)
    net = load_extractor(source)
    work = _prepare_out(out, overwrite)
    extractor = work / EXTRACTOR_DIR
    extractor.mkdir()
    for name in (WEIGHTS_NAME, META_NAME):
        shutil.copy2(source / name, extractor / name)
    export_onnx(net, extractor / ONNX_FILE, opset)
    difference = onnx_difference(net, extractor / ONNX_FILE)
    if not difference <= PARITY_TOLERANCE:
        raise RuntimeError(f"the ONNX extractor differs from torch by {difference:.2e} (> {PARITY_TOLERANCE}); "
                           f"not writing {out}")
    detector.save(work / DETECTOR_DIR)
    settings = run_settings(cfg, net)
    atomic_write_json(work / PREPROCESSING_FILE, settings.preprocessing_json())
    write_face(work, settings.face)
    shutil.copy2(run_dir / CONFIG_FILE, work / CONFIG_FILE)
    results = run_dir / RESULTS_FILE
    if results.is_file():
        shutil.copy2(results, work / METRICS_FILE)
    else:
        atomic_write_json(work / METRICS_FILE, {})
    for path in work.rglob("*"):  # atomic writes leave owner-only files; a bundle is meant to be shared
        path.chmod(0o755 if path.is_dir() else 0o644)
    manifest = write_manifest(work, str(run_dir.resolve()))
    if out.exists():
        shutil.rmtree(out)
    os.replace(work, out)
    log.info("bundle %s written to %s (ONNX opset %d, max |onnx - torch| %.1e)", manifest.bundle_id, out, opset,
             difference)
    return ExportReport(out, manifest, difference, round(time.perf_counter() - start, 3))
