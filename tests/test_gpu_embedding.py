"""Embedding at GPU rate without changing the CPU numbers: consecutive videos share batches, crops are read
ahead in a thread (same embeddings as reading inline), and bf16 autocast applies on CUDA only."""

from __future__ import annotations

import threading
from functools import partial

import numpy as np
import pytest
import torch

from data_modules.crops import inference_crops
from data_modules.normalize import normalize_images
from data_modules.prefetch import map_ahead
from src.artifacts.embeddings import embed_videos
from src.models.extractor.inference import FrameEmbedder, autocast_dtype
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet
from tests.fixtures_faces import write_face_cache
from tests.test_extractor import MEAN, STD, TINY, one_thread  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def net() -> FeatureExtractorNet:
    torch.manual_seed(0)
    spec = ExtractorSpec(backbone=TINY, image_size=64, mean=MEAN, std=STD, channels_last=False)
    return FeatureExtractorNet.build(spec).eval()


def test_map_ahead_keeps_order_runs_in_threads_and_reraises():
    names = []

    def square(i: int) -> int:
        names.append(threading.current_thread().name)
        return i * i

    assert list(map_ahead(square, range(9), depth=3, threads=2)) == [i * i for i in range(9)]
    assert names and all(n.startswith("read-ahead") for n in names)
    assert list(map_ahead(square, range(3), depth=0)) == [0, 1, 4]

    def read(i: int) -> int:
        if i == 2:
            raise OSError("cannot read crop 2")
        return i

    got = []
    with pytest.raises(OSError, match="cannot read crop 2"):
        for item in map_ahead(read, range(5), depth=3, threads=2):
            got.append(item)
    assert got == [0, 1]


def test_cpu_embeddings_are_the_plain_fp32_forward(net):
    images = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(5)]
    embedder = FrameEmbedder(net, batch_size=2)
    assert embedder.dtype is None  # CPU + auto: no autocast
    emb, logits = embedder(images)
    with torch.inference_mode():
        x = normalize_images(torch.from_numpy(np.stack(images)), embedder.mean, embedder.std)
        ref_logit, ref_emb = net(x)
    np.testing.assert_allclose(emb, ref_emb.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, ref_logit.numpy(), rtol=1e-5, atol=1e-5)
    assert autocast_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert autocast_dtype("fp32", torch.device("cuda")) is None
    with pytest.raises(ValueError, match="embed precision 'fp16': expected one of auto, fp32, bf16"):
        autocast_dtype("fp16", torch.device("cpu"))


def test_read_ahead_gives_the_embeddings_of_inline_reading_and_of_per_video_batches(net, tmp_path):
    cache = write_face_cache(tmp_path / "faces", {f"v{i}": "test" for i in range(5)}, frames_per_video=3)
    videos = [f"toy/real/raw/v{i}" for i in range(5)]
    embedder = FrameEmbedder(net, batch_size=4)  # batches straddle videos of 3 frames
    read = partial(inference_crops, cache, size=64)
    inline = embed_videos(embedder, videos, read, read_ahead=0)
    ahead = embed_videos(embedder, videos, read, read_ahead=3)
    assert [v.video_id for v in ahead] == videos
    for a, b in zip(inline, ahead, strict=True):
        assert np.array_equal(a.embeddings, b.embeddings) and np.array_equal(a.logits, b.logits)
        assert np.array_equal(a.frame_indices, b.frame_indices)
    for video, result in zip(videos, ahead, strict=True):
        emb, logits = embedder(read(video)[0])  # the old path: one video per call
        assert result.embeddings.shape == (3, net.embed_dim)
        np.testing.assert_allclose(result.embeddings, emb, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.logits, logits, rtol=1e-4, atol=1e-5)


def test_videos_without_frames_pass_through_in_order(net):
    embedder = FrameEmbedder(net, batch_size=4)
    image = np.zeros((64, 64, 3), np.uint8)
    out = list(embedder.embed_videos([("a", [image] * 2), ("empty", []), ("b", [image] * 5)]))
    assert [(k, len(e), len(lg)) for k, e, lg in out] == [("a", 2, 2), ("empty", 0, 0), ("b", 5, 5)]


@pytest.mark.gpu
def test_cuda_embeddings_in_bf16_track_fp32(net):
    images = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(8)]
    gpu = FrameEmbedder(net.cuda(), batch_size=8)
    assert gpu.dtype == torch.bfloat16
    emb, _ = gpu(images)
    ref, _ = FrameEmbedder(net, batch_size=8, precision="fp32")(images)
    net.cpu()
    cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
    assert emb.dtype == np.float32 and cos.min() > 0.99
