"""Square face crops around the landmark box: fixed margin for inference, random margins for training."""

from __future__ import annotations

import cv2
import numpy as np


def check_face_input(frame: np.ndarray, landmarks: np.ndarray) -> None:
    """Raise ValueError naming the problem when frame/landmarks are not an RGB uint8 image and [68,2] points."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be an RGB uint8 array [H,W,3], got {frame.dtype} {list(frame.shape)}")
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"landmarks must be 68 finite (x, y) points [68,2], got shape {list(landmarks.shape)}")


def square_box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int]:
    """Integer square (left, top, side) centred on a box, as large as its longer edge."""
    side = max(x1 - x0, y1 - y0, 1.0)
    left = round((x0 + x1 - side) / 2)
    top = round((y0 + y1 - side) / 2)
    return left, top, max(round(side), 2)


def crop_square(frame: np.ndarray, landmarks: np.ndarray, box: tuple[int, int, int], size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Resize the square `box` of `frame` (zero-padded where it leaves the frame) to size x size."""
    left, top, side = box
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, w), min(top + side, h)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"crop box {box} lies outside the {w}x{h} frame; check the landmarks")
    region = frame[y0:y1, x0:x1]
    if (x0, y0, x1, y1) != (left, top, left + side, top + side):
        region = cv2.copyMakeBorder(region, y0 - top, top + side - y1, x0 - left, left + side - x1,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scale = size / side
    image = region if side == size else cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR)
    moved = ((landmarks - (left, top) + 0.5) * scale - 0.5).astype(np.float32)
    return np.ascontiguousarray(image), moved


FOREHEAD = 0.2  # the face box reaches this fraction of the landmark box height above the brows
INFERENCE_MARGIN = 0.125  # the inference crop widens the face box by this fraction on each side


def face_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The landmark box x0, y0, x1, y1, raised at the top to take in the forehead."""
    (x0, y0), (x1, y1) = landmarks.min(0), landmarks.max(0)
    return float(x0), float(y0 - FOREHEAD * (y1 - y0)), float(x1), float(y1)


def inference_box(landmarks: np.ndarray, margin: float = INFERENCE_MARGIN) -> tuple[int, int, int]:
    """The square (left, top, side) of the inference crop: the face box widened by `margin` on each side."""
    x0, y0, x1, y1 = face_box(landmarks)
    pad_x, pad_y = (x1 - x0) * margin, (y1 - y0) * margin
    return square_box(x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y)


def crop_face(frame: np.ndarray, landmarks: np.ndarray, size: int, margin: float = INFERENCE_MARGIN
              ) -> tuple[np.ndarray, np.ndarray]:
    """The deterministic inference crop: a square around the face box widened by `margin` on each side."""
    check_face_input(frame, landmarks)
    return crop_square(frame, landmarks, inference_box(landmarks, margin), size)


def random_margin_box(landmarks: np.ndarray, margin: tuple[float, float], rng: np.random.Generator
                      ) -> tuple[tuple[int, int, int], np.ndarray]:
    """A square around the face box with an independent random margin per side; returns box, margins."""
    x0, y0, x1, y1 = face_box(landmarks)
    m = rng.uniform(margin[0], margin[1], size=4)  # left, top, right, bottom
    w, h = x1 - x0, y1 - y0
    return square_box(x0 - w * m[0], y0 - h * m[1], x1 + w * m[2], y1 + h * m[3]), m


def scaled_box(landmarks: np.ndarray, frame_shape: tuple[int, ...], scale: float) -> tuple[int, int, int, int]:
    """DiffFake's crop (utils/funcs.py crop_image) around the square face box: `scale` x its side about its
    centre in the same integer steps, cut (not padded) at the frame's edges; x0, y0, x1, y1."""
    left, top, side = square_box(*face_box(landmarks))
    grown = int(side * scale)
    x0, y0 = max(0, left + side // 2 - grown // 2), max(0, top + side // 2 - grown // 2)
    x1, y1 = min(frame_shape[1], x0 + grown), min(frame_shape[0], y0 + grown)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the face box lies outside the {frame_shape[1]}x{frame_shape[0]} frame; check the landmarks")
    return x0, y0, x1, y1


def crop_resized(frame: np.ndarray, landmarks: np.ndarray, box: tuple[int, int, int, int], size: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """frame[y0:y1, x0:x1] resized to size x size (bilinear), and the landmarks moved with it."""
    x0, y0, x1, y1 = box
    image = cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_LINEAR)
    scale = np.array([size / (x1 - x0), size / (y1 - y0)], np.float32)
    return image, ((landmarks - (x0, y0) + 0.5) * scale - 0.5).astype(np.float32)
