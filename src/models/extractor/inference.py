"""Inference with the frozen network: uint8 face crops -> normalised batches -> (embeddings, logits).

On CUDA the forward runs under bf16 autocast by default (`precision: auto`), from pinned host batches; on the
CPU it stays fp32, unchanged. `embed_videos` lets consecutive videos share full batches.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from contextlib import nullcontext
from typing import Protocol, TypeVar

import numpy as np
import torch

from data_modules.normalize import normalize_images
from src.models.extractor.net import FeatureExtractorNet

K = TypeVar("K", bound=Hashable)
PRECISIONS = ("auto", "fp32", "bf16")


class Embedder(Protocol):
    """What scoring needs from an extractor backend (torch here, ONNX Runtime in onnx_inference)."""

    size: int

    @property
    def embed_dim(self) -> int: ...

    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an inference precision: auto is bf16 on CUDA and none (fp32) elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"embed precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


class FrameEmbedder:
    """Embeds face crops of the network's input size in batches on the network's device."""

    def __init__(self, net: FeatureExtractorNet, batch_size: int, precision: str = "auto") -> None:
        self.net, self.batch_size = net, batch_size
        self.size = int(net.image_size)
        self.device = next(net.parameters()).device
        self.dtype = autocast_dtype(precision, self.device)
        self.mean = torch.tensor(net.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(net.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def embed_dim(self) -> int:
        """Width D of the embeddings."""
        return self.net.embed_dim

    @torch.inference_mode()
    def _forward(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One batch of uint8 [S,S,3] images -> (embeddings [B,D] float32, logits [B] float32)."""
        x = torch.from_numpy(np.stack(images))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = normalize_images(x, self.mean, self.std)
        autocast = nullcontext() if self.dtype is None else torch.autocast(self.device.type, dtype=self.dtype)
        with autocast:
            logit, emb = self.net(x)
        return emb.float().cpu().numpy(), logit.float().cpu().numpy()

    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [S,S,3] images -> (embeddings [T,D] float32, logits [T] float32)."""
        outs = [self._forward(images[i:i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return np.concatenate([e for e, _ in outs]), np.concatenate([lg for _, lg in outs])

    def embed_videos(self, videos: Iterable[tuple[K, list[np.ndarray]]]
                     ) -> Iterator[tuple[K, np.ndarray, np.ndarray]]:
        """(key, crops) per video -> (key, embeddings, logits) per video, in order; frames of consecutive videos
        fill the same batches, so short videos still give the GPU full batches."""
        waiting: list[tuple[K, int]] = []  # videos whose frames are queued or computed, not yet handed out
        queued: list[np.ndarray] = []
        embs, logits = np.zeros((0, self.embed_dim), np.float32), np.zeros(0, np.float32)

        def hand_out():
            nonlocal embs, logits
            while waiting and waiting[0][1] <= len(logits):
                key, n = waiting.pop(0)
                yield key, embs[:n], logits[:n]
                embs, logits = embs[n:], logits[n:]

        for key, crops in videos:
            waiting.append((key, len(crops)))
            queued.extend(crops)
            while len(queued) >= self.batch_size:
                e, lg = self._forward(queued[:self.batch_size])
                queued = queued[self.batch_size:]
                embs, logits = np.concatenate([embs, e]), np.concatenate([logits, lg])
            yield from hand_out()
        if queued:
            e, lg = self._forward(queued)
            embs, logits = np.concatenate([embs, e]), np.concatenate([logits, lg])
        yield from hand_out()
