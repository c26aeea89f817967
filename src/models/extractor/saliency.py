"""Where the stage-1 classifier looks: class-activation maps of P(fake) over face crops, with `grad-cam`.

The target layer is the network's last spatial feature map (found by one traced forward pass), so any timm
backbone works without a per-architecture table. grad-cam is imported on first use (it pulls in torchvision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from data_modules.normalize import normalize_images
from data_modules.registry import Registry
from src.models.extractor.net import FeatureExtractorNet

METHODS: Registry[type] = Registry("saliency method")
METHODS.add("gradcam", "pytorch_grad_cam:GradCAM")
METHODS.add("gradcam++", "pytorch_grad_cam:GradCAMPlusPlus")
METHODS.add("hirescam", "pytorch_grad_cam:HiResCAM")
METHODS.add("layercam", "pytorch_grad_cam:LayerCAM")


@dataclass(frozen=True)
class SaliencyMap:
    """One frame's map: the network's input crop (uint8 [S,S,3]), the heat map (float32 [S,S] in [0, 1])."""

    frame: int
    probability: float
    crop: np.ndarray
    heatmap: np.ndarray

    def overlay(self, image_weight: float = 0.55) -> np.ndarray:
        """The heat map (jet colours) blended over the crop, uint8 RGB."""
        from pytorch_grad_cam.utils.image import show_cam_on_image

        return show_cam_on_image(self.crop.astype(np.float32) / 255.0, self.heatmap, use_rgb=True,
                                 image_weight=image_weight)


class _FakeLogit(nn.Module):
    """The network as a one-output classifier [B,1] (the logit of 'fake'), the form grad-cam expects."""

    def __init__(self, net: FeatureExtractorNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[0].unsqueeze(1)


def last_spatial_layer(net: FeatureExtractorNet) -> nn.Module:
    """The module that last outputs a feature map with more than one position (before the global pooling)."""
    found: list[nn.Module] = []

    def record(module: nn.Module, _: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] * output.shape[-2] > 1:
            found.append(module)

    hooks = [m.register_forward_hook(record) for m in net.backbone.modules()]
    try:
        device = next(net.parameters()).device
        with torch.no_grad():
            net(torch.zeros(1, 3, net.image_size, net.image_size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    if not found:
        raise ValueError(f"backbone {net.spec.backbone.get('name')} has no spatial feature map for a saliency map")
    return found[-1]


class SaliencyMapper:
    """Class-activation maps of P(fake) for uint8 face crops of the network's input size."""

    def __init__(self, net: FeatureExtractorNet, method: str = "gradcam++", batch_size: int = 16) -> None:
        self.net, self.batch_size = net.eval(), batch_size
        device = next(net.parameters()).device
        self.mean = torch.tensor(net.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(net.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.cam = METHODS.get(method)(model=_FakeLogit(net), target_layers=[last_spatial_layer(net)])

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """uint8 [S,S,3] crops -> float32 maps [N,S,S], each scaled to [0, 1]."""
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        maps = []
        for i in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.stack(images[i:i + self.batch_size])).to(self.mean.device)
            x = normalize_images(batch, self.mean, self.std)
            maps.append(self.cam(input_tensor=x, targets=[ClassifierOutputTarget(0)] * len(x)))
        self.net.zero_grad(set_to_none=True)
        return np.concatenate(maps).astype(np.float32)

    def maps(self, images: list[np.ndarray], frames: list[int], probabilities: list[float]) -> list[SaliencyMap]:
        """SaliencyMap records of these crops."""
        heat = self(images)
        return [SaliencyMap(int(f), float(p), img, h)
                for f, p, img, h in zip(frames, probabilities, images, heat, strict=True)]
