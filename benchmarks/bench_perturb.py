"""Cost of the test-time perturbations on 720p: each frame kind at severity 3 (median ms per frame) and the
H.264 re-encode at CRF 35 (frames/s, one encoder thread, and its time over a plain decode of the same clip)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from benchmarks.bench_preprocess import source_frames
from data_modules.perturb import FRAME_KINDS, H264, Perturbation, frame_rng, perturb_frame, reencode_h264

GPU = False
REPEATS, CLIP_FRAMES = 15, 48


def _median_ms(frame: np.ndarray, kind: str) -> float:
    perturbation = Perturbation(kind, 3)
    times = []
    for i in range(REPEATS):
        start = time.perf_counter()
        perturb_frame(frame, perturbation, frame_rng(0, "bench", i))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _decode_seconds(path: Path) -> float:
    start = time.perf_counter()
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            frame.to_ndarray(format="rgb24")
    return time.perf_counter() - start


def run() -> list[tuple[str, float, str]]:
    """perturb_<kind>_ms_720p per frame kind, perturb_h264_fps_720p and perturb_h264_vs_decode_ratio."""
    frames = source_frames()
    figures = [(f"perturb_{kind}_ms_720p", _median_ms(frames[0], kind), "ms") for kind in FRAME_KINDS]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        with av.open(str(clip), "w") as container:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 1280, 720, "yuv420p", 4_000_000
            for i in range(CLIP_FRAMES):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")))
            container.mux(stream.encode())
        decode = _decode_seconds(clip)
        start = time.perf_counter()
        reencode_h264(clip, Path(tmp) / "h264.mp4", int(Perturbation(H264, 3).parameter))
        seconds = time.perf_counter() - start
    return [*figures, ("perturb_h264_fps_720p", CLIP_FRAMES / seconds, "frames/s"),
            ("perturb_h264_vs_decode_ratio", seconds / decode, "x")]
