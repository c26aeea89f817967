"""Score suspect videos, frames or still images with a trained detector, from a bundle or a run directory.

    from src.api import Detector
    detector = Detector.load("outputs/demo/runs/<time>/bundle")   # or Detector.from_run(<run dir>)
    result = detector.score_video("suspect.mp4", fpr=0.05)
    print(result.scores, result.decisions)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_modules.blending.crop import crop_face
from data_modules.cli import InputFileError
from data_modules.preprocess import FaceDetector, build_detector, extract_track, sample_frames
from data_modules.preprocess.face import Face
from data_modules.preprocess.frames import read_image
from data_modules.sources.common import IMAGE_EXTENSIONS
from src.artifacts.extractor import extractor_dir
from src.artifacts.store import ArtifactStore
from src.bundle.layout import InferenceSettings
from src.bundle.load import build_embedder, open_bundle
from src.bundle.run import load_run_config, run_settings
from src.models.differential.calibration import Calibration
from src.models.differential.pairs import VideoEmbeddings
from src.models.differential.scorer import DifferentialDetector, sigmoid
from src.models.extractor.inference import Embedder, FrameEmbedder
from src.models.extractor.net import FeatureExtractorNet, load_extractor
from src.models.extractor.saliency import SaliencyMap, SaliencyMapper

NO_FACE = "no face found in any sampled frame"
STILL_IMAGE = "a still image: classifier and saliency only (the differential heads need two frames of one video)"
SALIENCY_FRAMES = 8
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Decision:
    """One scorer's verdict at the chosen FPR: fake when the score is above the calibrated threshold."""

    fake: bool
    threshold: float


@dataclass(frozen=True)
class SkippedFrame:
    """A sampled frame that was not used, with the reason."""

    frame: int
    reason: str


@dataclass(frozen=True)
class Timeline:
    """Per-frame classifier probabilities and per-pair head scores (pairs as frame numbers), in frame order."""

    frame_indices: list[int]
    frame_probs: list[float]
    pairs: list[list[int]]
    pair_scores: dict[str, list[float]]


@dataclass
class VideoResult:
    """A scored video: every scorer's score, decisions at `fpr`, frames used and skipped, the timeline, the
    bundle's id (when scored from a bundle) and saliency maps (when asked for)."""

    video: str
    source: str
    fpr: float
    frames_sampled: int
    frames_used: int
    frames_skipped: list[SkippedFrame]
    scores: dict[str, float | None] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    reason: str = ""
    timeline: Timeline | None = None
    bundle: str | None = None
    saliency: list[SaliencyMap] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON written per video by `src.score`."""
        out = {"video": self.video, "run": self.source, "fpr": self.fpr, "frames_sampled": self.frames_sampled,
               "frames_used": self.frames_used,
               "frames_skipped": [{"frame": s.frame, "reason": s.reason} for s in self.frames_skipped],
               "scores": self.scores, "reason": self.reason,
               "decisions": {k: {"fake": d.fake, "threshold": d.threshold} for k, d in self.decisions.items()}}
        if self.bundle is not None:
            out["bundle"] = self.bundle
        if self.saliency:
            out["saliency_frames"] = [m.frame for m in self.saliency]
        return out if self.timeline is None else {**out, "timeline": asdict(self.timeline)}


class _ReportingDetector:
    """A face detector that reports progress after each frame."""

    def __init__(self, detector: FaceDetector, total: int, progress: Progress, share: float) -> None:
        self.detector, self.total, self.progress, self.share, self.done = detector, max(total, 1), progress, share, 0

    def detect(self, frame_rgb: np.ndarray) -> list[Face]:
        faces = self.detector.detect(frame_rgb)
        self.done += 1
        self.progress(self.share * self.done / self.total, f"finding faces: frame {self.done}/{self.total}")
        return faces


def is_image_file(path: Path | str) -> bool:
    """A file with an image extension: scored as a still image (a folder of images is a frame folder)."""
    return Path(path).is_file() and Path(path).suffix.lower() in IMAGE_EXTENSIONS


class Detector:
    """A trained detector (face detector, extractor, heads, calibration) ready to score new videos."""

    def __init__(self, settings: InferenceSettings, source: str, embedder: Embedder, detector: DifferentialDetector,
                 bundle_id: str | None = None, network: Callable[[], FeatureExtractorNet] | None = None) -> None:
        if detector.calibration is None:
            raise FileNotFoundError(f"{source} has no calibration.json: run the fit_head stage into this run dir")
        self.settings, self.source, self.embedder, self.detector = settings, source, embedder, detector
        self.bundle_id, self._network = bundle_id, network
        self.calibration: Calibration = detector.calibration
        self.face_detector = build_detector(settings.face)
        self._saliency: SaliencyMapper | None = None

    @classmethod
    def from_run(cls, run_dir: Path | str, batch_size: int = 64) -> Detector:
        """Load from a run directory (config.yaml + fit_head outputs) and the artifact store it names."""
        cfg = load_run_config(run_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"  # on CUDA the embedder runs in bf16
        net = load_extractor(extractor_dir(ArtifactStore(cfg.paths.artifact_dir), cfg), device)
        return cls(run_settings(cfg, net), str(run_dir), FrameEmbedder(net, batch_size),
                   DifferentialDetector.load(run_dir), network=lambda: net)

    @classmethod
    def load(cls, bundle: Path | str, backend: str = "onnx", batch_size: int = 64) -> Detector:
        """Load a bundle (python -m src.export) after checking its manifest; `backend` is onnx or torch."""
        opened = open_bundle(bundle)
        return cls(opened.settings, str(opened.root), build_embedder(opened, backend, batch_size),
                   DifferentialDetector.load(opened.detector_dir), bundle_id=opened.bundle_id,
                   network=opened.network)

    def thresholds(self, fpr: float) -> dict[str, float]:
        """Per-scorer thresholds set on validation reals at `fpr` (one of the calibrated targets)."""
        return self.calibration.thresholds(fpr, self.source)

    def face_images(self, crops: Sequence[np.ndarray], landmarks: np.ndarray) -> list[np.ndarray]:
        """The network's input crops of cached-style face crops, as the embed stage makes them."""
        s = self.settings
        return [crop_face(c, lm, s.image_size, s.crop_margin)[0] for c, lm in zip(crops, landmarks, strict=True)]

    def embed_crops(self, crops: list[np.ndarray], landmarks: np.ndarray, frame_indices: np.ndarray,
                    video_id: str) -> VideoEmbeddings:
        """Embeddings and logits of face crops, through the same inference crop as the embed stage."""
        embeddings, logits = self.embedder(self.face_images(crops, landmarks))
        return VideoEmbeddings(video_id, embeddings, logits, np.asarray(frame_indices))

    def score_video(self, video: Path | str, fpr: float = 0.05, frames: int | None = None, saliency: bool = False,
                    progress: Progress | None = None) -> VideoResult:
        """Sample frames, find faces, embed, and score a video file or frame folder at the chosen FPR."""
        video = Path(video)
        self.thresholds(fpr)
        sampled = sample_frames(video, frames or self.settings.frames_per_video)
        return self._score(sampled, str(video), video.stem, fpr, saliency, progress)

    def score_frames(self, frames: Sequence[np.ndarray], fpr: float = 0.05, saliency: bool = False,
                     name: str = "frames", progress: Progress | None = None) -> VideoResult:
        """Score RGB uint8 frames [H,W,3] of one video, in order; with `saliency` the result holds the maps."""
        return self._score(list(enumerate(frames)), name, name, fpr, saliency, progress)

    def score_image(self, image: Path | str | np.ndarray, fpr: float = 0.05, saliency: bool = False,
                    progress: Progress | None = None) -> VideoResult:
        """Score a still image (file or RGB uint8 array): the classifier and saliency only."""
        name = "image"
        if not isinstance(image, np.ndarray):
            name, image = str(image), read_image(Path(image))
            if image is None:
                raise InputFileError(f"cannot read image {name}: not a readable {'/'.join(sorted(IMAGE_EXTENSIONS))} file")
        result = self._score([(0, image)], name, Path(name).stem, fpr, saliency, progress)
        if result.frames_used:
            result.reason = STILL_IMAGE
        return result

    def score_file(self, path: Path | str, fpr: float = 0.05, frames: int | None = None, saliency: bool = False,
                   progress: Progress | None = None) -> VideoResult:
        """An image file as a still image; a video file or frame folder as a video."""
        if is_image_file(path):
            return self.score_image(path, fpr, saliency, progress)
        return self.score_video(path, fpr, frames, saliency, progress)

    def saliency_maps(self, images: list[np.ndarray], frames: Sequence[int], probabilities: np.ndarray,
                      top: int = SALIENCY_FRAMES) -> list[SaliencyMap]:
        """Maps of the `top` most suspicious frames (highest P(fake)), in frame order."""
        if self._saliency is None:
            if self._network is None:
                raise ValueError(f"{self.source}: saliency maps need the torch extractor, and none was given")
            self._saliency = SaliencyMapper(self._network())
        chosen = sorted(np.argsort(-np.asarray(probabilities), kind="stable")[:top].tolist())
        return self._saliency.maps([images[i] for i in chosen], [int(frames[i]) for i in chosen],
                                   [float(probabilities[i]) for i in chosen])

    def _score(self, sampled: list[tuple[int, np.ndarray]], video: str, video_id: str, fpr: float,
               saliency: bool, progress: Progress | None) -> VideoResult:
        thresholds = self.thresholds(fpr)
        report = progress or (lambda fraction, message: None)
        faces = _ReportingDetector(self.face_detector, len(sampled), report, 0.8) if progress else self.face_detector
        track = extract_track(sampled, faces, self.settings.face)
        result = VideoResult(video, self.source, fpr, len(sampled), len(track.crops),
                             [SkippedFrame(int(i), r) for i, r in track.skipped], bundle=self.bundle_id)
        if not track.crops:
            result.reason = NO_FACE
            return result
        report(0.8, "embedding faces")
        images = self.face_images(track.crops, track.landmarks)
        embeddings, logits = self.embedder(images)
        scored = self.detector.score_video(VideoEmbeddings(video_id, embeddings, logits, track.frame_indices))
        result.scores, result.reason = scored.scores, scored.reason
        result.decisions = {name: Decision(bool(value > thresholds[name]), thresholds[name])
                            for name, value in scored.scores.items() if value is not None and name in thresholds}
        result.timeline = Timeline(scored.frame_indices, scored.frame_probs, scored.pairs, scored.pair_scores)
        if saliency:
            report(0.9, "saliency maps")
            result.saliency = self.saliency_maps(images, track.frame_indices, sigmoid(logits))
        report(1.0, "done")
        return result
