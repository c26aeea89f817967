"""68-point landmarks for the demo builder and the face-swap tool, through the face pipeline's detector."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from data_modules.preprocess.dlib_backend import DlibDetector

FULL_RESOLUTION = 4096  # detect on the photo itself, so the small faces of group photos are found


@lru_cache(maxsize=1)
def _detector() -> DlibDetector:
    """dlib's HOG detector with the 68-point predictor, without upsampling (built once per process)."""
    return DlibDetector(upsample=0, detect_max_side=FULL_RESOLUTION)


def detect_faces(image: np.ndarray) -> list[np.ndarray]:
    """Landmarks [68,2] float32 (image pixels) of every face found in an RGB uint8 image."""
    return [np.asarray(face.landmarks, dtype=np.float32) for face in _detector().detect(image)]


def largest_face(image: np.ndarray) -> np.ndarray | None:
    """Landmarks of the face with the widest landmark spread, or None when no face is found."""
    faces = detect_faces(image)
    return max(faces, key=lambda lms: float(np.ptp(lms[:, 0]))) if faces else None
