"""Test data for the blending and stage-1 tests: real dlib landmarks on scikit-image's astronaut, and a
tiny face cache of real 'videos' made by shifting and scaling that photo."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from data_modules.cache import FaceCache, FaceTrack
from data_modules.records import IndexRow, VideoRecord


def _model_file(name: str) -> str:
    folders = importlib.util.find_spec("face_recognition_models").submodule_search_locations
    return str(Path(next(iter(folders))) / "models" / name)


@cache
def astronaut_face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photo (RGB uint8 512x512) and its 68 dlib landmarks [68,2] float32."""
    import dlib
    from skimage import data

    image = np.ascontiguousarray(data.astronaut())
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))
    boxes = list(detector(image, 1))
    assert boxes, "dlib found no face in astronaut()"
    shape = predictor(image, max(boxes, key=lambda b: b.area()))
    points = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    return image, points


def moved_face(shift: tuple[float, float], scale: float, size: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face scaled about its landmark centre and shifted, cropped to size x size."""
    image, points = astronaut_face()
    centre = points.mean(0)
    affine = np.array([[scale, 0, size / 2 - scale * centre[0] + shift[0]],
                       [0, scale, size / 2 - scale * centre[1] + shift[1]]], np.float32)
    frame = cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return frame, (points @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def write_face_cache(root: Path, videos: dict[str, str], frames_per_video: int = 3, size: int = 160,
                     image_format: str = "png") -> FaceCache:
    """A face cache of real videos {name: split}; each frame is the astronaut moved a little."""
    cache = FaceCache(root)
    rows = []
    for v, (name, split) in enumerate(sorted(videos.items())):
        record = VideoRecord(video_id=f"toy/real/raw/{name}", path=f"/nowhere/{name}.mp4", label=0, dataset="toy",
                             manipulation="real", compression="raw", split=split)
        crops, marks = [], []
        for t in range(frames_per_video):
            crop, points = moved_face((3.0 * t - 2 * v, 2.0 * v - t), 0.55 + 0.03 * t, size)
            crops.append(crop)
            marks.append(points)
        t = np.arange(frames_per_video)
        track = FaceTrack(crops=crops, landmarks=np.stack(marks), boxes=np.zeros((len(t), 4), np.float32),
                          crop_boxes=np.zeros((len(t), 4), np.int32), scores=np.ones(len(t), np.float32),
                          frame_indices=t * 5)
        cache.write_video(record, track, image_format)
        rows.append(IndexRow.from_record(record, frames_per_video, "ok"))
    cache.write_index(rows)
    return cache
