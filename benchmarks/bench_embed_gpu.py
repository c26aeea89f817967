"""Embed-stage throughput on CUDA (`make bench-gpu`): EfficientNet-B4 at 224 px, bf16 autocast with batches of
256 (and fp32 for reference), network alone and the whole stage path with threaded read-ahead. Target:
embed_frames_per_s >= 3,000. Without CUDA it logs why and returns no figures."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from benchmarks.bench_embed import build_embedder, network_rate, pipeline_rates
from benchmarks.bench_train_gpu import gpu_slug
from src.utils.logging import get_logger

GPU = True
BATCH, VIDEOS, FRAMES = 256, 32, 128

log = get_logger(__name__)


def run() -> list[tuple[str, float, str]]:
    """embed_frames_per_s (bf16, channels_last), its fp32 reference, and the stage path with read-ahead."""
    if not torch.cuda.is_available():
        log.warning("bench_embed_gpu: CUDA is not available; no figures")
        return []
    gpu = gpu_slug()
    torch.backends.cudnn.benchmark = True
    bf16 = build_embedder("cuda", BATCH, "bf16", channels_last=True)
    figures = [(f"embed_frames_per_s[{gpu}]", network_rate(bf16, VIDEOS, FRAMES), "frames/s"),
               (f"embed_frames_per_s_fp32[{gpu}]",
                network_rate(build_embedder("cuda", BATCH, "fp32", channels_last=True), VIDEOS, FRAMES), "frames/s")]
    with TemporaryDirectory() as tmp:
        pipeline, reading = pipeline_rates(bf16, Path(tmp), 48, 32)
    figures += [(f"embed_pipeline_frames_per_s[{gpu}]", pipeline, "frames/s"),
                (f"crop_read_frames_per_s[{gpu}]", reading, "frames/s")]
    return figures
