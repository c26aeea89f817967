"""Writing RGB frames as an H.264 mp4 (PyAV), atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int, crf: int = 20) -> int:
    """Encode RGB uint8 frames (even width and height) into `path` via a temp file; returns the frame count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    count = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "ultrafast"}
            stream.codec_context.thread_count = 1  # identical bytes on every machine
            for frame in frames:
                if count == 0:
                    stream.height, stream.width = frame.shape[:2]
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
                count += 1
            container.mux(stream.encode())
        if count == 0:
            raise ValueError(f"no frames to write into {path}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def read_frames(path: Path, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """Decoded RGB frames of a video (up to max_frames) and its frame rate."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as err:
        raise OSError(f"cannot decode video {path}: {err}") from err
    return frames, fps
