"""Embed-stage throughput (FrameEmbedder, EfficientNet-B4 at 224 px, random init): frames per second of the
network on crops already in memory, of the whole stage path (face cache -> inference crops read ahead in
threads -> network), and of the crop reading alone. On the CPU in fp32 here; bench_embed_gpu runs the same
on CUDA in bf16 with large batches.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch

from benchmarks.bench_train import backbone_cfg
from data_modules.crops import inference_crops
from data_modules.prefetch import map_ahead
from data_modules.workers import usable_cpus
from src.artifacts.embeddings import embed_videos
from src.models.extractor.backbones import backbone_data_config
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet

GPU = False
SIZE, CROP, READ_AHEAD = 224, 320, 4


def build_embedder(device: str, batch: int, precision: str = "auto", channels_last: bool = False) -> FrameEmbedder:
    """EfficientNet-B4 (random init) at SIZE on `device`, in eval mode."""
    backbone = backbone_cfg("efficientnet_b4", pretrained=False, image_size=SIZE)
    spec = ExtractorSpec.from_config(backbone, backbone_data_config(backbone), channels_last)
    net = FeatureExtractorNet.build(spec).to(device).eval()
    return FrameEmbedder(net, batch, precision)


def _sync(embedder: FrameEmbedder) -> None:
    if embedder.device.type == "cuda":
        torch.cuda.synchronize()


def network_rate(embedder: FrameEmbedder, videos: int, frames: int) -> float:
    """Frames/s of embed_videos on fixed crops in memory (one warm-up batch excluded)."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(frames)]
    list(embedder.embed_videos([(0, crops[:embedder.batch_size])]))
    _sync(embedder)
    start = time.perf_counter()
    list(embedder.embed_videos((v, crops) for v in range(videos)))
    _sync(embedder)
    return videos * frames / (time.perf_counter() - start)


def face_cache(root: Path, videos: int, frames: int):
    """A face cache of `videos` x `frames` astronaut crops (png) and its video ids."""
    from tests.fixtures_faces import write_face_cache

    cache = write_face_cache(root, {f"v{i:03d}": "test" for i in range(videos)}, frames, CROP)
    return cache, [f"toy/real/raw/v{i:03d}" for i in range(videos)]


def pipeline_rates(embedder: FrameEmbedder, root: Path, videos: int, frames: int) -> tuple[float, float]:
    """(stage-path frames/s with read-ahead, crop-reading-only frames/s) over a fresh face cache."""
    cache, ids = face_cache(root, videos, frames)
    read = partial(inference_crops, cache, size=SIZE)
    threads = min(READ_AHEAD, usable_cpus())
    start = time.perf_counter()
    for _ in map_ahead(read, ids, READ_AHEAD, threads):
        pass
    reading = videos * frames / (time.perf_counter() - start)
    list(embedder.embed_videos([(0, read(ids[0])[0])]))  # warm-up
    _sync(embedder)
    start = time.perf_counter()
    embed_videos(embedder, ids, read, READ_AHEAD)
    _sync(embedder)
    return videos * frames / (time.perf_counter() - start), reading


def run() -> list[tuple[str, float, str]]:
    """embed_frames_per_s_cpu, embed_pipeline_frames_per_s_cpu and crop_read_frames_per_s (fp32, batch 16;
    few frames: B4 runs at a few frames/s on two CPU cores)."""
    embedder = build_embedder("cpu", 16)
    network = network_rate(embedder, 1, 32)
    with TemporaryDirectory() as tmp:
        pipeline, reading = pipeline_rates(embedder, Path(tmp), 2, 8)
    return [("embed_frames_per_s_cpu", network, "frames/s"),
            ("embed_pipeline_frames_per_s_cpu", pipeline, "frames/s"),
            ("crop_read_frames_per_s", reading, "frames/s")]
