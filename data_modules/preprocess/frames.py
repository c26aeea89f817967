"""Uniform frame sampling from videos (PyAV, sequential decode converting only the wanted frames) or frame folders."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from data_modules.sources.common import IMAGE_EXTENSIONS


class VideoReadError(RuntimeError):
    """A video or frame folder that cannot be read; the message is the skip reason."""


def uniform_indices(total: int, n: int) -> list[int]:
    """n evenly spaced frame numbers in [0, total), first and last included; all of them when total <= n."""
    if total <= 0 or n <= 0:
        return []
    if total <= n:
        return list(range(total))
    return [int(i) for i in np.linspace(0, total - 1, n).round()]


def _display_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB uint8 pixels as displayed: the container's rotation (display matrix) applied."""
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _count_frames(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """Frame count from the header, else by demuxing packets (cheap: nothing is decoded)."""
    if stream.frames > 0:
        return int(stream.frames)
    count = sum(1 for packet in container.demux(stream) if packet.size)
    container.seek(0)
    return count


def _decode_wanted(path: Path, wanted: list[int]) -> tuple[list[tuple[int, np.ndarray]], int, bool]:
    """Decode in order, converting only `wanted` frames: (those frames, frames decoded, whether it ended early)."""
    out: list[tuple[int, np.ndarray]] = []
    targets, last, count = set(wanted), max(wanted), 0
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                if count in targets:
                    out.append((count, _display_rgb(frame)))
                count += 1
                if count > last:
                    return out, count, False
        except (av.FFmpegError, ValueError):  # a damaged stream: keep what decoded, the caller resamples
            return out, count, True
    return out, count, True


def _open_info(path: Path) -> int:
    """Frame count of a readable video, or VideoReadError with the reason."""
    if not path.exists():
        raise VideoReadError(f"missing file: {path}")
    if path.stat().st_size == 0:
        raise VideoReadError("empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream")
            return _count_frames(container, container.streams.video[0])
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise VideoReadError(f"cannot open video: {type(err).__name__}: {err}") from err


def sample_video(path: Path, n: int) -> list[tuple[int, np.ndarray]]:
    """n uniformly spaced frames of a video; a truncated video is resampled over the frames it really has."""
    total = _open_info(path)
    if total == 0:
        raise VideoReadError("no frames")
    wanted = uniform_indices(total, n)
    try:
        frames, decoded, broken = _decode_wanted(path, wanted)
        if broken and len(frames) < len(wanted) and decoded > len(frames):
            frames, _, _ = _decode_wanted(path, uniform_indices(decoded, n))
    except av.FFmpegError as err:
        raise VideoReadError(f"cannot decode video: {type(err).__name__}: {err}") from err
    if not frames:
        raise VideoReadError("no decodable frames")
    return frames


def read_image(path: Path) -> np.ndarray | None:
    """An image file as RGB uint8 (grayscale and alpha converted), or None when unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def sample_folder(path: Path, n: int) -> list[tuple[int, np.ndarray]]:
    """n uniformly spaced images of a frame folder (sorted by name); unreadable images are left out."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise VideoReadError("frame folder holds no images")
    frames = [(i, image) for i in uniform_indices(len(files), n) if (image := read_image(files[i])) is not None]
    if not frames:
        raise VideoReadError("no readable images in frame folder")
    return frames


def sample_frames(path: str | Path, n: int) -> list[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8 frame) for n uniformly spaced frames of a video file or a folder of frames."""
    path = Path(path)
    return sample_folder(path, n) if path.is_dir() else sample_video(path, n)
