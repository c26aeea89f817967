"""The face detector protocol (box, score, 68 landmarks per face) and the backend factory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
from omegaconf import DictConfig

BACKENDS = ("dlib", "insightface")


@dataclass(frozen=True)
class Face:
    """One detected face in frame pixels: box x0,y0,x1,y1, detector score, 68 iBUG landmarks [68,2]."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """The shorter side of the box in pixels."""
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))

    @property
    def center(self) -> np.ndarray:
        """Box centre (x, y)."""
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], dtype=np.float32)


class FaceDetector(Protocol):
    """Anything that finds faces with 68 landmarks in an RGB uint8 frame."""

    def detect(self, frame_rgb: np.ndarray) -> list[Face]:
        """Every face found in the frame, in no particular order."""
        ...


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk so its long side is at most max_side (area interpolation), and the scale used."""
    scale = min(1.0, max_side / max(image.shape[:2])) if max_side else 1.0
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def check_face_config(face_cfg: DictConfig | Mapping[str, Any]) -> None:
    """Fail before any video is touched when the backend, the selection or the model files are wrong."""
    from data_modules.preprocess.track import SELECTIONS

    if face_cfg.get("select", "largest") not in SELECTIONS:
        raise ValueError(f"unknown face.select '{face_cfg['select']}'; valid choices: {', '.join(SELECTIONS)}")
    if face_cfg["backend"] == "dlib":
        from data_modules.preprocess.dlib_backend import predictor_path

        predictor_path()
    elif face_cfg["backend"] == "insightface":
        from data_modules.preprocess.insightface_backend import find_models

        find_models(str(face_cfg["model_dir"]))
    else:
        raise ValueError(f"unknown face.backend '{face_cfg['backend']}'; valid choices: {', '.join(BACKENDS)}")


def build_detector(face_cfg: DictConfig | Mapping[str, Any]) -> FaceDetector:
    """The detector named by face_cfg.backend, configured from face_cfg."""
    backend = face_cfg["backend"]
    if backend == "dlib":
        from data_modules.preprocess.dlib_backend import DlibDetector

        return DlibDetector(upsample=int(face_cfg.get("upsample", 0)),
                            detect_max_side=int(face_cfg.get("detect_max_side", 640)))
    if backend == "insightface":
        from data_modules.preprocess.insightface_backend import InsightFaceDetector

        return InsightFaceDetector(model_dir=str(face_cfg["model_dir"]), det_size=int(face_cfg.get("det_size", 640)),
                                   det_thresh=float(face_cfg.get("det_thresh", 0.5)))
    raise ValueError(f"unknown face.backend '{backend}'; valid choices: {', '.join(BACKENDS)}")
