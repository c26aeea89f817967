"""Why bf16 is no faster than fp32 at 32 images per step: profile a few SAM steps of EfficientNet-B4 at 224 px
per variant (synthetic inputs) and print, per step, kernel launches, GPU busy time against wall time (wall far
above busy = launch-bound), autocast casts, BatchNorm and convolution calls, and the costliest kernels.

    python -m benchmarks.profile_sam_step [variants=fp32,bf16,bf16_cl,bf16_cl_graphs] [steps=3] [out=<file.json>]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.bench_train import measure, synthetic_loader
from benchmarks.bench_train_gpu import VARIANTS, WARMUP, bench_config
from data_modules.cli import parse_args, run_main
from data_modules.io import atomic_write_json, to_plain

USAGE = "python -m benchmarks.profile_sam_step [variants=fp32,bf16,bf16_cl,bf16_cl_graphs] [steps=3] [out=<file>]"
# op name fragments counted per step: the casts autocast inserts, the norms, the convolutions
OPS = {"casts": ("aten::_to_copy",), "batch_norm": ("batch_norm",), "conv": ("aten::convolution",)}


class StepProfile(pl.Callback):
    """torch.profiler over `steps` training steps after `warmup`, with the wall time they took."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps, self.seen, self.wall = warmup, steps, 0, 0.0
        self.prof: profile | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self.seen == self.warmup:
            torch.cuda.synchronize()
            self.prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            self.prof.__enter__()
            self.wall = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.seen += 1
        if self.prof is not None and self.seen == self.warmup + self.steps:
            torch.cuda.synchronize()
            self.wall = time.perf_counter() - self.wall
            self.prof.__exit__(None, None, None)


def summarise(p: StepProfile) -> dict[str, float | list[str]]:
    """Per-step figures of a finished StepProfile."""
    events = p.prof.key_averages()
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(e.self_device_time_total for e in kernels)
    out: dict[str, float | list[str]] = {
        "wall_ms": 1e3 * p.wall / p.steps, "gpu_busy_ms": busy_us / 1e3 / p.steps,
        "kernels": sum(e.count for e in kernels) / p.steps}
    for name, fragments in OPS.items():
        out[name] = sum(e.count for e in events if e.device_type == torch.autograd.DeviceType.CPU
                        and any(f in e.key for f in fragments)) / p.steps
    top = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[:8]
    out["top_kernels"] = [f"{e.self_device_time_total / 1e3 / p.steps:.2f} ms x{e.count // p.steps} {e.key[:90]}"
                          for e in top]
    return out


@dataclass(frozen=True)
class Args:
    """Command line of the profile."""

    variants: str = "fp32,bf16,bf16_cl,bf16_cl_graphs"
    steps: int = 3
    out: str | None = None


def main(argv: list[str]) -> int:
    """Profile each variant; print one summary block per variant."""
    args = parse_args(Args, argv, USAGE)
    if not torch.cuda.is_available():
        print("profile_sam_step needs CUDA; skipped", file=sys.stderr)
        return 1
    cfg = bench_config()
    backbone, size = to_plain(cfg.backbone), int(cfg.backbone.image_size)
    results = {}
    for label in args.variants.split(","):
        v = VARIANTS[label]
        prof = StepProfile(WARMUP, args.steps)
        measure(backbone, synthetic_loader(WARMUP + args.steps, v.images_per_step, size),
                {"accelerator": "gpu", "devices": 1, "benchmark": True, "precision": v.precision}, WARMUP,
                args.steps, channels_last=v.channels_last, compile=v.compile, cuda_graphs=v.cuda_graphs,
                callbacks=(prof,))
        results[label] = summary = summarise(prof)
        print(f"profile[{label}]: wall {summary['wall_ms']:.1f} ms/step, GPU busy {summary['gpu_busy_ms']:.1f} ms/step, "
              f"{summary['kernels']:.0f} kernels/step, casts {summary['casts']:.0f}, batch_norm "
              f"{summary['batch_norm']:.0f}, conv {summary['conv']:.0f} per step")
        for line in summary["top_kernels"]:
            print(f"    {line}")
    if args.out:
        atomic_write_json(Path(args.out), results)
    return 0


if __name__ == "__main__":
    run_main(main, USAGE)
