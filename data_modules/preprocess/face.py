"""What every face detector returns (box, score, 68 landmarks per face), its protocol, and a shared resize."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np


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
