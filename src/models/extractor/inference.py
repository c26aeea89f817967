"""Inference with the frozen network: uint8 face crops -> normalised batches -> (embeddings, logits)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from data_modules.normalize import normalize_images
from src.models.extractor.net import FeatureExtractorNet


class Embedder(Protocol):
    """What scoring needs from an extractor backend (torch here, ONNX Runtime in onnx_inference)."""

    size: int

    @property
    def embed_dim(self) -> int: ...

    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...


class FrameEmbedder:
    """Embeds face crops of the network's input size in batches on the network's device."""

    def __init__(self, net: FeatureExtractorNet, batch_size: int) -> None:
        self.net, self.batch_size = net, batch_size
        self.size = int(net.image_size)
        device = next(net.parameters()).device
        self.mean = torch.tensor(net.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(net.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    @property
    def embed_dim(self) -> int:
        """Width D of the embeddings."""
        return self.net.embed_dim

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [S,S,3] images -> (embeddings [T,D] float32, logits [T] float32)."""
        embs, logits = [], []
        for i in range(0, len(images), self.batch_size):
            x = torch.from_numpy(np.stack(images[i:i + self.batch_size])).to(self.mean.device)
            x = normalize_images(x, self.mean, self.std)
            logit, emb = self.net(x)
            embs.append(emb.float().cpu().numpy())
            logits.append(logit.float().cpu().numpy())
        return np.concatenate(embs), np.concatenate(logits)
