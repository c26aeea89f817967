"""The one conversion from uint8 face images to the backbone's normalised input."""

from __future__ import annotations

import torch


def normalize_images(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W] in [0,1], minus mean, over std (both broadcast per channel)."""
    return images.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)
