"""Stage-1 training throughput on CUDA: EfficientNet-B4 at 224 px with SAM (two passes per step), configs
composed through Hydra (`backbone=efficientnet_b4 extractor=sam trainer=gpu blend=sbi`), in the variants of
VARIANTS: fp32, bf16-mixed, + channels_last, + CUDA graphs (extractor.cuda_graphs), + torch.compile, and 128
images per step; each fed by synthetic tensors and, where marked, by the real PseudoFakeDataModule (a face
cache of astronaut crops, on-the-fly blending in `num_workers: auto` DataLoader workers).

Figure names carry the GPU; the ratios show the input pipeline's cost (target >= 90%) and each variant's
speed-up over fp32. Without CUDA it logs why and returns no figures. BENCH_GPU_COMPILE=0 skips the compile
variant (its compilation takes minutes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from omegaconf import DictConfig

from benchmarks.bench_train import measure, synthetic_loader
from data_modules.io import to_plain
from data_modules.pseudo_fake import PseudoFakeDataModule
from data_modules.workers import resolve_workers
from src.config import compose_config
from src.utils.logging import get_logger

GPU = True
OVERRIDES = ["backbone=efficientnet_b4", "backbone.pretrained=false", "backbone.image_size=224", "extractor=sam",
             "trainer=gpu", "blend=sbi"]
WARMUP, COMPILE_WARMUP, STEPS = 6, 12, 25
VIDEOS, FRAMES, CROP = 24, 16, 320

log = get_logger(__name__)


@dataclass(frozen=True)
class Variant:
    """One measured setup: precision, memory format, graphs/compile, images per step, and inputs."""

    precision: str
    channels_last: bool = False
    cuda_graphs: bool = False
    compile: bool = False
    images_per_step: int = 32
    real: bool = False  # also measured on the real DataModule


VARIANTS = {
    "fp32": Variant("32-true", real=True),
    "bf16": Variant("bf16-mixed", real=True),
    "bf16_cl": Variant("bf16-mixed", channels_last=True),
    "bf16_graphs": Variant("bf16-mixed", cuda_graphs=True),
    "bf16_cl_graphs": Variant("bf16-mixed", channels_last=True, cuda_graphs=True, real=True),
    "bf16_cl_compile": Variant("bf16-mixed", channels_last=True, compile=True),
    "bf16_cl_128": Variant("bf16-mixed", channels_last=True, images_per_step=128),
    "bf16_cl_graphs_128": Variant("bf16-mixed", channels_last=True, cuda_graphs=True, images_per_step=128,
                                  real=True),
}


def gpu_slug() -> str:
    """The CUDA device name as a figure-name tag, e.g. NVIDIA_H100_80GB_HBM3."""
    return re.sub(r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name(0)).strip("_")


def bench_config() -> DictConfig:
    """The composed run config the benchmark measures."""
    return compose_config(OVERRIDES)


def real_datamodule(root: Path, workers: int | str, videos: int = VIDEOS, frames: int = FRAMES, size: int = 224,
                    pairs: int = 16, cfg: DictConfig | None = None) -> PseudoFakeDataModule:
    """The stage-1 DataModule over a face cache of `videos` x `frames` astronaut crops (composed blend)."""
    from tests.fixtures_faces import write_face_cache

    cfg = bench_config() if cfg is None else cfg
    splits = {f"v{i:02d}": "val" if i == 0 else "train" for i in range(videos)}
    cache = write_face_cache(root / "faces", splits, frames, CROP)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    return PseudoFakeDataModule([cache], [cache], cfg.blend, size, mean, std, pairs_per_batch=pairs,
                                num_workers=workers, val_size=2, val_dir=root / "val", seed=0,
                                prefetch_factor=int(cfg.extractor.prefetch_factor))


def run() -> list[tuple[str, float, str]]:
    """images/s per variant and input, real/synthetic ratios, and each variant's speed-up over fp32."""
    if not torch.cuda.is_available():
        log.warning("bench_train_gpu skipped: CUDA is not available here; run `make bench-gpu` on a CUDA machine")
        return []
    cfg = bench_config()
    backbone, size = to_plain(cfg.backbone), int(cfg.backbone.image_size)
    trainer = {"accelerator": "gpu", "devices": 1, "benchmark": bool(cfg.trainer.benchmark)}
    workers = resolve_workers(cfg.extractor.num_workers)
    gpu = gpu_slug()
    figures: list[tuple[str, float, str]] = [(f"train_gpu_dataloader_workers[{gpu}]", float(workers), "workers")]
    speed: dict[tuple[str, str], float] = {}
    variants = {k: v for k, v in VARIANTS.items() if not v.compile or os.environ.get("BENCH_GPU_COMPILE", "1") != "0"}
    with TemporaryDirectory() as tmp:
        modules: dict[int, PseudoFakeDataModule] = {}
        for label, v in variants.items():
            warmup = COMPILE_WARMUP if v.compile else WARMUP
            for source in ("synthetic", "real") if v.real else ("synthetic",):
                datamodule = None
                if source == "real":
                    pairs = v.images_per_step // 2
                    if pairs not in modules:
                        modules[pairs] = real_datamodule(Path(tmp) / f"p{pairs}", workers, size=size, pairs=pairs,
                                                         cfg=cfg)
                    datamodule = modules[pairs]
                loader = None if datamodule else synthetic_loader(warmup + STEPS, v.images_per_step, size)
                value = measure(backbone, loader, {**trainer, "precision": v.precision}, warmup, STEPS,
                                datamodule=datamodule, channels_last=v.channels_last, compile=v.compile,
                                cuda_graphs=v.cuda_graphs)
                speed[label, source] = value
                figures.append((f"train_b4_sam_224_{label}_{source}[{gpu}]", value, "images/s"))
                log.info("%s %s: %.1f images/s", label, source, value)
            if v.real:
                figures.append((f"train_b4_sam_224_{label}_real_over_synthetic[{gpu}]",
                                100.0 * speed[label, "real"] / speed[label, "synthetic"], "%"))
    for label in variants:
        if label != "fp32":
            figures.append((f"train_b4_sam_224_{label}_speedup_over_fp32[{gpu}]",
                            speed[label, "synthetic"] / speed["fp32", "synthetic"], "x"))
    return figures
