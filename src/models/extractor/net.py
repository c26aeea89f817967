"""The stage-1 network as a plain nn.Module: a timm backbone's pooled embedding plus a one-logit head.

`forward(images) -> (logit [B], embedding [B,D])`; sigmoid(logit) = P(fake). Training wraps it
(`lightning.ExtractorModule`), inference and export use it alone. model.safetensors + model.json hold it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from data_modules.io import atomic_write_bytes, atomic_write_json, read_json, reading, to_plain
from src.models.extractor.backbones import create_backbone

WEIGHTS_NAME, META_NAME = "model.safetensors", "model.json"


@dataclass(frozen=True)
class ExtractorSpec:
    """Everything that rebuilds the network offline: backbone config, input size, normalisation, layout."""

    backbone: dict[str, Any]
    image_size: int = 224
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    channels_last: bool = False

    @classmethod
    def from_config(cls, backbone_cfg: Any, data_config: dict[str, Any], channels_last: bool = False
                    ) -> ExtractorSpec:
        """From the backbone config group and `backbone_data_config` (input size, mean, std)."""
        return cls(backbone=to_plain(backbone_cfg), image_size=int(data_config["image_size"]),
                   mean=[float(m) for m in data_config["mean"]], std=[float(s) for s in data_config["std"]],
                   channels_last=bool(channels_last))


class FeatureExtractorNet(nn.Module):
    """Backbone embedding -> linear logit (label 1 = fake)."""

    def __init__(self, spec: ExtractorSpec, backbone: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.head = nn.Linear(backbone.num_features, 1)
        if spec.channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def build(cls, spec: ExtractorSpec, weights_dir: str | Path | None = None, pretrained: bool = True
              ) -> FeatureExtractorNet:
        """The network with the backbone's pretrained weights (when its config asks and `pretrained`)."""
        backbone_cfg = dict(spec.backbone, pretrained=bool(spec.backbone.get("pretrained")) and pretrained)
        return cls(spec, create_backbone(backbone_cfg, weights_dir=weights_dir))

    @property
    def image_size(self) -> int:
        """Square input side in pixels."""
        return self.spec.image_size

    @property
    def mean(self) -> list[float]:
        """Per-channel normalisation mean (RGB, 0..1 scale)."""
        return list(self.spec.mean)

    @property
    def std(self) -> list[float]:
        """Per-channel normalisation std (RGB, 0..1 scale)."""
        return list(self.spec.std)

    @property
    def embed_dim(self) -> int:
        """Width D of the pooled embedding."""
        return int(self.backbone.num_features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images [B,3,S,S] -> (logit [B], embedding [B,D])."""
        if self.spec.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        embedding = self.backbone(images)
        return self.head(embedding).squeeze(-1), embedding


def save_extractor(net: FeatureExtractorNet, out_dir: Path, extra: dict[str, Any] | None = None) -> None:
    """Write model.safetensors (every weight) and model.json (the spec, embedding width, extra), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(Path(out_dir) / WEIGHTS_NAME, save(state))
    atomic_write_json(Path(out_dir) / META_NAME, {**asdict(net.spec), "embed_dim": net.embed_dim, **(extra or {})})


def read_spec(meta_path: Path) -> ExtractorSpec:
    """The spec stored in model.json (files written before channels_last moved to the top keep it in hparams)."""
    meta = read_json(meta_path, f"delete {meta_path.parent} and rerun the 'train_extractor' stage to rebuild it")
    channels_last = meta.get("channels_last", meta.get("hparams", {}).get("channels_last", False))
    return ExtractorSpec(backbone=meta["backbone"], image_size=int(meta["image_size"]), mean=meta["mean"],
                         std=meta["std"], channels_last=bool(channels_last))


def load_extractor(artifact_dir: Path | str, device: str | torch.device = "cpu") -> FeatureExtractorNet:
    """The saved network in eval mode, rebuilt offline (weights from model.safetensors, no download)."""
    artifact_dir = Path(artifact_dir)
    meta_path, weights_path = artifact_dir / META_NAME, artifact_dir / WEIGHTS_NAME
    if not (meta_path.is_file() and weights_path.is_file()):
        raise FileNotFoundError(f"{artifact_dir} holds no exported extractor ({META_NAME} + {WEIGHTS_NAME}); "
                                f"run the 'train_extractor' stage with the same config")
    net = FeatureExtractorNet.build(read_spec(meta_path), pretrained=False)
    with reading(weights_path, f"delete {artifact_dir} and rerun the 'train_extractor' stage to rebuild it"):
        state = load_file(str(weights_path))
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()
