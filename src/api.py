"""Score suspect videos with a trained detector from Python.

    from src.api import Detector
    detector = Detector.from_run("outputs/demo/runs/<time>")
    result = detector.score_video("suspect.mp4", fpr=0.05)
    print(result.scores, result.decisions)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from data_modules.blending.crop import crop_face
from data_modules.preprocess import build_detector, extract_track, sample_frames
from src.artifacts.extractor import extractor_dir
from src.artifacts.store import ArtifactStore
from src.models.differential.calibration import Calibration
from src.models.differential.pairs import VideoEmbeddings
from src.models.differential.scorer import DifferentialDetector
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import load_extractor

NO_FACE = "no face found in any sampled frame"


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


@dataclass
class VideoResult:
    """A scored video: every scorer's score, decisions at `fpr`, frames used and skipped, the timeline."""

    video: str
    source: str
    fpr: float
    frames_sampled: int
    frames_used: int
    frames_skipped: list[SkippedFrame]
    scores: dict[str, float | None] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    reason: str = ""
    timeline: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON written per video by `src.score`."""
        out = {"video": self.video, "run": self.source, "fpr": self.fpr, "frames_sampled": self.frames_sampled,
               "frames_used": self.frames_used,
               "frames_skipped": [{"frame": s.frame, "reason": s.reason} for s in self.frames_skipped],
               "scores": self.scores, "reason": self.reason,
               "decisions": {k: {"fake": d.fake, "threshold": d.threshold} for k, d in self.decisions.items()}}
        return out if self.timeline is None else {**out, "timeline": self.timeline}


class Detector:
    """A finished run's face detector, extractor, heads and calibration, ready to score new videos."""

    def __init__(self, cfg: DictConfig, source: str, embedder: FrameEmbedder, detector: DifferentialDetector
                 ) -> None:
        if detector.calibration is None:
            raise FileNotFoundError(f"{source} has no calibration.json: run the fit_head stage into this run dir")
        self.cfg, self.source, self.embedder, self.detector = cfg, source, embedder, detector
        self.calibration: Calibration = detector.calibration
        self.face_detector = build_detector(cfg.face)

    @classmethod
    def from_run(cls, run_dir: Path | str, batch_size: int = 64) -> Detector:
        """Load from a run directory (config.yaml + fit_head outputs) and the artifact store it names."""
        run_dir = Path(run_dir)
        config = run_dir / "config.yaml"
        if not config.is_file():
            raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml); pass run=<outputs/.../runs/..>")
        cfg = OmegaConf.load(config)
        net = load_extractor(extractor_dir(ArtifactStore(cfg.paths.artifact_dir), cfg))
        return cls(cfg, str(run_dir), FrameEmbedder(net, batch_size), DifferentialDetector.load(run_dir))

    def thresholds(self, fpr: float) -> dict[str, float]:
        """Per-scorer thresholds set on validation reals at `fpr` (one of the calibrated targets)."""
        return self.calibration.thresholds(fpr, self.source)

    def embed_crops(self, crops: list[np.ndarray], landmarks: np.ndarray, frame_indices: np.ndarray,
                     video_id: str) -> VideoEmbeddings:
        """Embeddings and logits of face crops, through the same inference crop as the embed stage."""
        images = [crop_face(c, lm, self.embedder.size)[0] for c, lm in zip(crops, landmarks, strict=True)]
        embeddings, logits = self.embedder(images)
        return VideoEmbeddings(video_id, embeddings, logits, np.asarray(frame_indices))

    def score_video(self, video: Path | str, fpr: float = 0.05, frames: int | None = None) -> VideoResult:
        """Sample frames, find faces, embed, and score a video file or frame folder at the chosen FPR."""
        video = Path(video)
        thresholds = self.thresholds(fpr)
        sampled = sample_frames(video, frames or int(self.cfg.data.frames_per_video))
        track = extract_track(sampled, self.face_detector, self.cfg.face)
        result = VideoResult(str(video), self.source, fpr, len(sampled), len(track.crops),
                             [SkippedFrame(int(i), r) for i, r in track.skipped])
        if not track.crops:
            result.reason = NO_FACE
            return result
        scored = self.detector.score_video(self.embed_crops(track.crops, track.landmarks, track.frame_indices,
                                                            video.stem))
        result.scores, result.reason = scored.scores, scored.reason
        result.decisions = {name: Decision(bool(value > thresholds[name]), thresholds[name])
                            for name, value in scored.scores.items() if value is not None and name in thresholds}
        result.timeline = {"frame_indices": scored.frame_indices, "frame_probs": scored.frame_probs,
                           "pairs": scored.pairs, "pair_scores": scored.pair_scores}
        return result
