"""Face crops a dataset ships with landmarks (DeepfakeBench), read into a FaceTrack without a detector."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np

from data_modules.cache import NUM_LANDMARKS, FaceTrack
from data_modules.preprocess.frames import VideoReadError, uniform_indices
from data_modules.sources.common import PreparedFrame

NO_IMAGE, BAD_IMAGE = "missing image", "unreadable image"
NO_LANDMARKS, BAD_LANDMARKS = "no landmarks file", "unreadable landmarks"


def read_landmarks(path: str) -> np.ndarray | None:
    """The 68 iBUG points of a landmark .npy ([68,2], or dlib's [81,2] whose first 68 are iBUG), else None."""
    try:
        points = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < NUM_LANDMARKS:
        return None
    return points[:NUM_LANDMARKS].astype(np.float32)


def _read_frame(frame: PreparedFrame) -> tuple[np.ndarray, np.ndarray] | str:
    """(RGB crop, landmarks) of one frame, or the reason it is skipped."""
    if not frame.image.is_file():
        return NO_IMAGE
    if not frame.landmarks.is_file():
        return NO_LANDMARKS
    image = cv2.imread(str(frame.image), cv2.IMREAD_COLOR)
    if image is None:
        return BAD_IMAGE
    landmarks = read_landmarks(str(frame.landmarks))
    return BAD_LANDMARKS if landmarks is None else (cv2.cvtColor(image, cv2.COLOR_BGR2RGB), landmarks)


def read_prepared_track(frames: Sequence[PreparedFrame], frames_per_video: int) -> FaceTrack:
    """Up to frames_per_video listed crops, spaced uniformly; a crop is a whole frame, boxed by landmarks."""
    if not frames:
        raise VideoReadError("no frames listed for this video")
    crops, points, indices, skipped = [], [], [], []
    for i in uniform_indices(len(frames), frames_per_video):
        read = _read_frame(frames[i])
        if isinstance(read, str):
            skipped.append((frames[i].number, read))
            continue
        crops.append(read[0])
        points.append(read[1])
        indices.append(frames[i].number)
    if not crops:
        reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(r for _, r in skipped).items())
        raise VideoReadError(f"no usable prepared frame ({reasons})")
    landmarks = np.stack(points)
    sizes = np.array([[c.shape[1], c.shape[0]] for c in crops])
    return FaceTrack(
        crops=crops,
        landmarks=landmarks,
        boxes=np.concatenate([landmarks.min(axis=1), landmarks.max(axis=1)], axis=1).astype(np.float32),
        crop_boxes=np.concatenate([np.zeros_like(sizes), sizes], axis=1).astype(np.int32),
        scores=np.ones(len(crops), dtype=np.float32),  # no detector ran: the dataset's crops count as faces
        frame_indices=np.asarray(indices, dtype=np.int64),
        skipped=skipped,
    )
