"""From sampled frames to a FaceTrack: pick one face per frame, crop an enlarged window, move the landmarks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig

from data_modules.cache import NUM_LANDMARKS, FaceTrack
from data_modules.preprocess.face import Face, FaceDetector
from data_modules.registry import Registry

NO_FACE, TINY_FACE = "no face", "tiny face"
SELECTIONS: Registry[Callable[[Sequence[Face], np.ndarray | None], Face]] = Registry("face.select")


@SELECTIONS.register("largest")
def largest_face(faces: Sequence[Face], previous: np.ndarray | None) -> Face:
    """The face with the largest box."""
    return max(faces, key=lambda f: f.area)


@SELECTIONS.register("track")
def tracked_face(faces: Sequence[Face], previous: np.ndarray | None) -> Face:
    """The face whose centre is closest to the previous frame's face (the largest in the first frame)."""
    if previous is None:
        return largest_face(faces, previous)
    return min(faces, key=lambda f: float(np.linalg.norm(f.center - previous)))


def crop_window(box: np.ndarray, height: int, width: int, crop_scale: float) -> np.ndarray:
    """Square window of crop_scale x the box's long side around its centre, clipped to the frame: x0,y0,x1,y1."""
    center = (box[:2] + box[2:]) / 2
    half = crop_scale * float(max(box[2] - box[0], box[3] - box[1])) / 2
    x0, y0 = np.floor(center - half).astype(int)
    x1, y1 = np.ceil(center + half).astype(int)
    return np.array([max(0, x0), max(0, y0), min(width, x1), min(height, y1)], dtype=np.int32)


def enlarged_crop(frame: np.ndarray, face: Face, crop_scale: float, max_side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop, landmarks in crop pixels, crop window) with the crop's long side capped at max_side."""
    window = crop_window(face.box, frame.shape[0], frame.shape[1], crop_scale)
    x0, y0, x1, y1 = (int(v) for v in window)
    crop = frame[y0:y1, x0:x1]
    landmarks = face.landmarks - np.array([x0, y0], dtype=np.float32)
    h, w = crop.shape[:2]
    if max(h, w) > max_side:
        size = (max(1, round(w * max_side / max(h, w))), max(1, round(h * max_side / max(h, w))))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        landmarks = landmarks * np.array([size[0] / w, size[1] / h], dtype=np.float32)
    return np.ascontiguousarray(crop), landmarks.astype(np.float32), window


def extract_track(frames: Sequence[tuple[int, np.ndarray]], detector: FaceDetector,
                  face_cfg: DictConfig | Mapping[str, Any]) -> FaceTrack:
    """One face per frame where one is found; frames without a usable face are listed in `skipped` with a reason."""
    choose, min_px = SELECTIONS.get(str(face_cfg.get("select", "largest"))), float(face_cfg.get("min_face_px", 0))
    crop_scale, max_side = float(face_cfg.get("crop_scale", 2.0)), int(face_cfg.get("max_crop_side", 512))
    crops, landmarks, boxes, windows, scores, indices, skipped = [], [], [], [], [], [], []
    previous = None
    for index, frame in frames:
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else frame
        faces = detector.detect(rgb)
        usable = [f for f in faces if f.size >= min_px]
        if not usable:
            skipped.append((int(index), TINY_FACE if faces else NO_FACE))
            continue
        face = choose(usable, previous)
        previous = face.center
        crop, points, window = enlarged_crop(rgb, face, crop_scale, max_side)
        crops.append(crop)
        landmarks.append(points)
        boxes.append(face.box)
        windows.append(window)
        scores.append(face.score)
        indices.append(int(index))
    return FaceTrack(
        crops=crops,
        landmarks=np.asarray(landmarks, dtype=np.float32).reshape(-1, NUM_LANDMARKS, 2),
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        crop_boxes=np.asarray(windows, dtype=np.int32).reshape(-1, 4),
        scores=np.asarray(scores, dtype=np.float32),
        frame_indices=np.asarray(indices, dtype=np.int64),
        skipped=skipped,
    )
