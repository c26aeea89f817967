"""Scoring one 10 s 720p clip with a finished demo-sized run (src.score end to end, CPU), from the run with
PyTorch and from its exported bundle with ONNX Runtime, timed in the same process; and the export itself.

The run (demo_tiny at the demo's 128 px) is built once and cached under $DIFFFAKE_BENCH_CACHE
(default /tmp/difffake_bench_score); only the scoring is timed: loading the run or bundle (the bundle's
manifest check included), decoding, detection on the sampled frames, the extractor, the heads and the JSON.
The two paths alternate, ROUNDS times each, and the best time of each counts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

FPS, SECONDS, SIZE = 25, 10, (1280, 720)
FRAMES_SCORED = 32
ROUNDS = 3


def _clip(path: Path) -> None:
    """A 10 s 720p clip: the astronaut's face drifting slowly over a blurred copy of the photo."""
    from skimage import data

    from data_modules.demo.video_io import write_video

    photo = data.astronaut()
    background = cv2.GaussianBlur(cv2.resize(photo, SIZE), (0, 0), 8)
    face = cv2.resize(photo[40:360, 100:340], (360, 480))

    def frames():
        for i in range(FPS * SECONDS):
            frame = background.copy()
            x, y = 460 + int(40 * np.sin(i / 40)), 120 + int(20 * np.cos(i / 50))
            frame[y:y + 480, x:x + 360] = face
            yield frame

    write_video(path, frames(), FPS)


def _run_dir(cache: Path) -> Path:
    """A finished tiny demo run (built on first use)."""
    from src.config import compose_config
    from src.run import run_stages

    run = cache / "run"
    if not (run / "calibration.json").is_file():
        cfg = compose_config(["experiment=demo_tiny", "backbone.image_size=128", "logger=none", "stages=[preprocess,"
                              "train_extractor,embed,fit_head,evaluate]", f"paths.artifact_dir={cache / 'artifacts'}",
                              "extras.print_config=false"], run)
        run_stages(cfg)
    return run


def _score_seconds(**source: object) -> float:
    """Wall time of src.score on the clip from a run (run=) or a bundle (bundle=, backend=)."""
    from src.score import ScoreArgs, score_videos

    cache = Path(os.environ.get("DIFFFAKE_BENCH_CACHE", "/tmp/difffake_bench_score"))
    start = time.perf_counter()
    (result,) = score_videos(ScoreArgs(video=cache / "clip_10s_720p.mp4", frames=FRAMES_SCORED,
                                       out=cache / "scores", **source))
    seconds = time.perf_counter() - start
    if result["frames_used"] < FRAMES_SCORED // 2:
        raise RuntimeError(f"only {result['frames_used']} faces found in the benchmark clip")
    return seconds


def run() -> list[tuple[str, float, str]]:
    """score_10s_720p_s (run, torch), score_10s_720p_onnx_s (bundle, ONNX Runtime), their ratio, export_s."""
    from src.bundle.export import export_bundle

    cache = Path(os.environ.get("DIFFFAKE_BENCH_CACHE", "/tmp/difffake_bench_score"))
    run_dir = _run_dir(cache)
    clip = cache / "clip_10s_720p.mp4"
    if not clip.is_file():
        _clip(clip)
    start = time.perf_counter()
    bundle = export_bundle(run_dir, cache / "bundle", overwrite=True).path
    export_s = time.perf_counter() - start
    torch_s, onnx_s = [], []
    for _ in range(ROUNDS):
        torch_s.append(_score_seconds(run=run_dir))
        onnx_s.append(_score_seconds(bundle=bundle, backend="onnx"))
    return [("score_10s_720p_s", min(torch_s), "s"), ("score_10s_720p_onnx_s", min(onnx_s), "s"),
            ("score_onnx_speedup", min(torch_s) / min(onnx_s), "x"), ("export_s", export_s, "s")]
