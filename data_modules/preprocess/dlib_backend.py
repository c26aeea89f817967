"""dlib backend: HOG frontal face detector plus the 68-point shape predictor from face-recognition-models."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np

from data_modules.preprocess.face import Face, downscale

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path:
    """The 68-point predictor inside the face-recognition-models package (found by path, never imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "models" / PREDICTOR_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{PREDICTOR_FILE} not found: install it with `pip install face-recognition-models` "
                            f"(searched {locations or 'no installed package'})")


@lru_cache(maxsize=1)
def _shape_predictor(path: str) -> dlib.shape_predictor:
    """The 68-point predictor, loaded once per process (parsing the 100 MB file takes about 2 s)."""
    return dlib.shape_predictor(path)


@lru_cache(maxsize=1)
def _frontal_detector() -> dlib.fhog_object_detector:
    """The HOG face detector, built once per process (deserialising it takes 0.5-2 s; detection is stateless)."""
    return dlib.get_frontal_face_detector()


class DlibDetector:
    """Detects on a grayscale copy shrunk to detect_max_side; landmarks come from the full-resolution frame.

    A frame shrunk for detection that shows no face there is tried once more, at retry_max_side, before it
    counts as faceless: the small faces of 1080p clips fall under HOG's ~80 px minimum once shrunk to 640.
    `retries` and `found_on_retry` count them (a frame no larger than detect_max_side is not retried: raise
    face.upsample for small faces there)."""

    def __init__(self, upsample: int = 0, detect_max_side: int = 640, retry_max_side: int | None = 1920) -> None:
        self.upsample = upsample
        self.detect_max_side = detect_max_side
        self.retry_max_side = retry_max_side
        self.retries = self.found_on_retry = 0
        self._detector = _frontal_detector()
        self._predictor = _shape_predictor(str(predictor_path()))

    @classmethod
    def from_config(cls, face_cfg: Mapping[str, Any]) -> DlibDetector:
        """A detector with `face.upsample`, `face.detect_max_side` and `face.retry_max_side` (null: no retry)."""
        retry = face_cfg.get("retry_max_side", 1920)
        return cls(upsample=int(face_cfg.get("upsample", 0)), detect_max_side=int(face_cfg.get("detect_max_side", 640)),
                   retry_max_side=None if retry is None else int(retry))

    @staticmethod
    def check_config(face_cfg: Mapping[str, Any]) -> None:
        """The 68-point predictor file must be installed."""
        predictor_path()

    def detect(self, frame_rgb: np.ndarray) -> list[Face]:
        """Faces with HOG scores and 68 landmarks in frame pixels (retried larger once when none is found)."""
        gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY) if frame_rgb.ndim == 3 else frame_rgb
        faces = self._detect(gray, self.detect_max_side)
        shrunk = max(gray.shape[:2]) > self.detect_max_side
        if faces or not shrunk or self.retry_max_side is None or self.retry_max_side <= self.detect_max_side:
            return faces
        self.retries += 1
        faces = self._detect(gray, self.retry_max_side)
        self.found_on_retry += bool(faces)
        return faces

    def _detect(self, gray: np.ndarray, max_side: int) -> list[Face]:
        small, scale = downscale(gray, max_side)
        rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32) / scale
            full = dlib.rectangle(*(int(round(v)) for v in box))
            shape = self._predictor(gray, full)
            landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            faces.append(Face(box=box, score=float(score), landmarks=landmarks))
        return faces
