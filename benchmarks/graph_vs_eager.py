"""Eager against CUDA-graph SAM training: the same seed, weights and batches for `steps` updates, both loss
curves printed with their largest absolute difference (they differ by bf16 rounding and kernel choice only).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from benchmarks.bench_train import backbone_cfg, fit_extractor
from data_modules.cli import parse_args, run_main
from data_modules.io import atomic_write_json
from src.models.extractor.backbones import backbone_data_config
from src.models.extractor.lightning import ExtractorModule, OptimSettings

USAGE = ("python -m benchmarks.graph_vs_eager [steps=50] [backbone=efficientnet_b4] [size=224] [batch=32] "
         "[precision=bf16-mixed] [out=<file.json>]")


class DistinctBatches(Dataset):
    """`batches` different batches of fixed random images (seeded by index), labels alternating."""

    def __init__(self, batches: int, batch: int, size: int, seed: int = 0) -> None:
        self.batches, self.batch, self.size, self.seed = batches, batch, size, seed

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + index)
        return {"image": torch.randn(self.batch, 3, self.size, self.size, generator=g),
                "label": torch.arange(self.batch) % 2}


class StepLosses(pl.Callback):
    """The first-pass loss of every training step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def loss_curve(backbone: Mapping[str, Any], steps: int, batch: int, precision: str, cuda_graphs: bool,
               accelerator: str = "gpu", seed: int = 0) -> tuple[list[float], ExtractorModule]:
    """Train from a seeded initialisation for `steps` SAM updates; the per-step losses and the module."""
    pl.seed_everything(seed)
    size = int(backbone_data_config(backbone)["image_size"])
    record = StepLosses()
    loader = DataLoader(DistinctBatches(steps, batch, size, seed), batch_size=None, pin_memory=accelerator == "gpu")
    model = fit_extractor(backbone, loader, {"accelerator": accelerator, "devices": 1, "precision": precision}, steps,
                          channels_last=accelerator == "gpu", cuda_graphs=cuda_graphs,
                          optim=OptimSettings(lr=0.01, epochs=1000), callbacks=(record,))
    return record.losses, model


@dataclass(frozen=True)
class Args:
    """Command line of the comparison."""

    steps: int = 50
    backbone: str = "efficientnet_b4"
    size: int = 224
    batch: int = 32
    precision: str = "bf16-mixed"
    out: str | None = None


def main(argv: list[str]) -> int:
    """Print both curves and their max abs difference; exit 1 without CUDA."""
    args = parse_args(Args, argv, USAGE)
    if not torch.cuda.is_available():
        print("graph_vs_eager needs CUDA; skipped", file=sys.stderr)
        return 1
    backbone = backbone_cfg(args.backbone, pretrained=False, image_size=args.size)
    eager, _ = loss_curve(backbone, args.steps, args.batch, args.precision, cuda_graphs=False)
    graph, model = loss_curve(backbone, args.steps, args.batch, args.precision, cuda_graphs=True)
    diff = max(abs(a - b) for a, b in zip(eager, graph, strict=True))
    for i, (a, b) in enumerate(zip(eager, graph, strict=True)):
        print(f"step {i:3d}  eager {a:.5f}  graph {b:.5f}  diff {a - b:+.5f}")
    captures = model.captured.captures if model.captured else 0
    print(f"graph_vs_eager_max_abs_loss_diff: {diff:.4g} ({args.steps} steps, {args.precision}, "
          f"{args.backbone} {args.size}px, batch {args.batch}, {captures} capture(s), eager reason: "
          f"{model.eager_reason})")
    if args.out:
        atomic_write_json(Path(args.out), {"eager": eager, "graph": graph, "max_abs_diff": diff,
                                           "captures": captures, "eager_reason": model.eager_reason})
    return 0


if __name__ == "__main__":
    run_main(main, USAGE)
