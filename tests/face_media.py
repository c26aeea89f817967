"""Test media built from face photos shipped inside installed packages (scikit-image, insightface)."""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 RGB; one frontal face, box about x 179-266, y 83-170)."""
    return skimage.data.astronaut()


def group_photo() -> np.ndarray:
    """insightface's t1.jpg (1280x886 RGB, several people)."""
    folder = Path(importlib.util.find_spec("insightface").submodule_search_locations[0])
    return cv2.cvtColor(cv2.imread(str(folder / "data" / "images" / "t1.jpg")), cv2.COLOR_BGR2RGB)


def astronaut_frames(n: int, width: int = 320, height: int = 240) -> list[np.ndarray]:
    """n frames of a window sliding slowly over the astronaut photo, the face always inside."""
    photo = astronaut()
    return [np.ascontiguousarray(photo[20 + 2 * i: 20 + 2 * i + height, 60 + 3 * i: 60 + 3 * i + width])
            for i in range(n)]


def paste(canvas_hw: tuple[int, int], face: np.ndarray, x: int, y: int) -> np.ndarray:
    """A black canvas with `face` pasted at (x, y)."""
    canvas = np.zeros((*canvas_hw, 3), dtype=np.uint8)
    canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    return canvas


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 25, codec: str = "mpeg4",
                pix_fmt: str = "yuv420p", pts: Sequence[int] | None = None) -> Path:
    """Encode RGB frames with PyAV; `pts` in milliseconds gives a variable frame rate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        if pts is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def set_mp4_rotation(path: Path, degrees_clockwise: int) -> None:
    """Patch the track header's display matrix of an mp4 so players rotate it (as phones record)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd")
    version = data[at + 4]
    matrix = at + 8 + (8 if version == 0 else 16) + 4 + 4 + (4 if version == 0 else 8) + 8 + 8
    one = 0x10000
    cos, sin = {0: (one, 0), 90: (0, one), 180: (-one, 0), 270: (0, -one)}[degrees_clockwise % 360]
    struct.pack_into(">9i", data, matrix, cos, sin, 0, -sin, cos, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
