"""Stage-1 training throughput on CUDA: EfficientNet-B4 at 224 px with SAM (two passes per step) in fp32,
bf16-mixed, bf16 + channels_last and bf16 + channels_last + torch.compile, each fed by synthetic tensors and by
the real PseudoFakeDataModule (astronaut face cache, on-the-fly blending in DataLoader workers).

Figure names carry the GPU; the ratios show the input pipeline's cost (target >= 90%) and bf16's gain (>= 2x).
Without CUDA it logs why and returns no figures.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from benchmarks.bench_train import backbone_cfg, measure, synthetic_loader
from data_modules.pseudo_fake import PseudoFakeDataModule
from src.utils.logging import get_logger

GPU = True
SIZE, PAIRS = 224, 16  # 32 images per step, as experiments/extractor/sam.yaml
WARMUP, COMPILE_WARMUP, STEPS = 5, 12, 25
VIDEOS, FRAMES, CROP = 24, 16, 320
# label -> (precision, channels_last, compile)
VARIANTS = {
    "fp32": ("32-true", False, False),
    "bf16": ("bf16-mixed", False, False),
    "bf16_cl": ("bf16-mixed", True, False),
    "bf16_cl_compile": ("bf16-mixed", True, True),
}

log = get_logger(__name__)


def gpu_slug() -> str:
    """The CUDA device name as a figure-name tag, e.g. NVIDIA_H100_80GB_HBM3."""
    return re.sub(r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name(0)).strip("_")


def real_datamodule(root: Path, workers: int, videos: int = VIDEOS, frames: int = FRAMES, size: int = SIZE,
                    pairs: int = PAIRS) -> PseudoFakeDataModule:
    """The stage-1 DataModule over a face cache of `videos` x `frames` astronaut crops (sbi blend config)."""
    from omegaconf import OmegaConf

    from src.config import CONFIG_DIR
    from tests.fixtures_faces import write_face_cache

    splits = {f"v{i:02d}": "val" if i == 0 else "train" for i in range(videos)}
    cache = write_face_cache(root / "faces", splits, frames, CROP)
    blend = OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml")
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    return PseudoFakeDataModule([cache], [cache], blend, size, mean, std, pairs_per_batch=pairs,
                                num_workers=workers, val_size=2, val_dir=root / "val", seed=0)


def run() -> list[tuple[str, float, str]]:
    """images/s per variant and input, real/synthetic ratios, and the bf16 speed-up over fp32."""
    if not torch.cuda.is_available():
        log.warning("bench_train_gpu skipped: CUDA is not available here; run `make bench-gpu` on a CUDA machine")
        return []
    gpu, workers = gpu_slug(), min(8, os.cpu_count() or 1)
    backbone = backbone_cfg("efficientnet_b4", pretrained=False, image_size=SIZE)
    trainer = {"accelerator": "gpu", "devices": 1, "benchmark": True}
    figures: list[tuple[str, float, str]] = [(f"train_gpu_dataloader_workers[{gpu}]", float(workers), "workers")]
    speed: dict[tuple[str, str], float] = {}
    with TemporaryDirectory() as tmp:
        datamodule = real_datamodule(Path(tmp), workers)
        for label, (precision, channels_last, compile_) in VARIANTS.items():
            warmup = COMPILE_WARMUP if compile_ else WARMUP
            kwargs = {"channels_last": channels_last, "compile": compile_}
            for source in ("synthetic", "real"):
                loader = synthetic_loader(warmup + STEPS, 2 * PAIRS, SIZE) if source == "synthetic" else None
                value = measure(backbone, loader, {**trainer, "precision": precision}, warmup, STEPS,
                                datamodule=datamodule if source == "real" else None, **kwargs)
                speed[label, source] = value
                figures.append((f"train_b4_sam_224_{label}_{source}[{gpu}]", value, "images/s"))
                log.info("%s %s: %.1f images/s", label, source, value)
            figures.append((f"train_b4_sam_224_{label}_real_over_synthetic[{gpu}]",
                            100.0 * speed[label, "real"] / speed[label, "synthetic"], "%"))
    for label in ("bf16", "bf16_cl", "bf16_cl_compile"):
        figures.append((f"train_b4_sam_224_{label}_speedup_over_fp32[{gpu}]",
                        speed[label, "synthetic"] / speed["fp32", "synthetic"], "x"))
    return figures
