"""Stage-1 training throughput on the CPU: EfficientNet-Lite0 (package weights) at 224 px, SAM, fp32.

Also holds the measuring helpers that bench_train_gpu uses: a real Trainer with a timing callback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from data_modules.io import to_plain
from src.config import compose_config
from src.models.extractor.backbones import backbone_data_config
from src.models.extractor.lightning import ExtractorModule, OptimSettings
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet

GPU = False
WARMUP, STEPS, BATCH = 1, 3, 16


class SyntheticBatches(Dataset):
    """Fixed random normalised images with alternating labels, already batched (no input pipeline cost)."""

    def __init__(self, batches: int, batch: int, size: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(batch, 3, size, size, generator=g)
        self.labels = torch.arange(batch) % 2
        self.batches = batches

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images, "label": self.labels}


def synthetic_loader(batches: int, batch: int, size: int) -> DataLoader:
    """Pre-batched synthetic tensors (batch_size=None), pinned when CUDA is there."""
    return DataLoader(SyntheticBatches(batches, batch, size), batch_size=None, shuffle=False,
                      pin_memory=torch.cuda.is_available())


class Throughput(pl.Callback):
    """Images per second over the training batches after `warmup` (device synchronised at both ends)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.seen, self.images, self.start, self.end = warmup, 0, 0, 0.0, 0.0

    def _sync(self, module: pl.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.seen == self.warmup:
            self._sync(module)
            self.start = time.perf_counter()
        elif self.seen > self.warmup:
            self.images += len(batch["label"])
            self._sync(module)
            self.end = time.perf_counter()

    @property
    def images_per_s(self) -> float:
        """Measured throughput; 0 when no timed batch ran."""
        return self.images / (self.end - self.start) if self.images else 0.0


def backbone_cfg(option: str, **overrides: Any) -> dict[str, Any]:
    """The composed `backbone=<option>` config group as a dict, with overrides."""
    return {**to_plain(compose_config([f"backbone={option}"]).backbone), **overrides}


def fit_extractor(backbone: Mapping[str, Any], loader: DataLoader | None, trainer_kwargs: Mapping[str, Any],
                  max_steps: int, datamodule: pl.LightningDataModule | None = None, channels_last: bool = False,
                  compile: bool = False, cuda_graphs: bool = False, optim: OptimSettings | None = None,
                  callbacks: tuple[pl.Callback, ...] = ()) -> ExtractorModule:
    """Train the real extractor with SAM for `max_steps` batches of `loader` (or `datamodule`); the module."""
    spec = ExtractorSpec.from_config(backbone, backbone_data_config(backbone), channels_last)
    model = ExtractorModule(FeatureExtractorNet.build(spec), optim or OptimSettings(), compile=compile,
                            cuda_graphs=cuda_graphs)
    with TemporaryDirectory() as tmp:
        trainer = pl.Trainer(max_steps=max_steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                             default_root_dir=str(Path(tmp)), callbacks=list(callbacks), **trainer_kwargs)
        if datamodule is not None:
            trainer.fit(model, datamodule=datamodule)
        else:
            trainer.fit(model, loader)
    return model


def measure(backbone: Mapping[str, Any], loader: DataLoader | None, trainer_kwargs: Mapping[str, Any], warmup: int,
            steps: int, datamodule: pl.LightningDataModule | None = None, channels_last: bool = False,
            compile: bool = False, cuda_graphs: bool = False, callbacks: tuple[pl.Callback, ...] = ()) -> float:
    """Train the real extractor with SAM for warmup + steps batches; images/s."""
    meter = Throughput(warmup)
    fit_extractor(backbone, loader, trainer_kwargs, warmup + steps, datamodule, channels_last, compile, cuda_graphs,
                  callbacks=(meter, *callbacks))
    return meter.images_per_s


def run() -> list[tuple[str, float, str]]:
    """train_images_per_s_lite0_cpu: SAM training steps per second times the batch, on every CPU thread."""
    backbone = backbone_cfg("efficientnet_lite0")
    size = backbone_data_config(backbone)["image_size"]
    value = measure(backbone, synthetic_loader(WARMUP + STEPS, BATCH, size), {"accelerator": "cpu", "devices": 1},
                    WARMUP, STEPS)
    return [("train_images_per_s_lite0_cpu", value, "images/s")]
