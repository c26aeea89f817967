"""SAM's own bookkeeping per update on EfficientNet-B4's 416 parameter tensors: top-level torch op dispatches
of perturb + restore (each is a kernel launch on CUDA, where launches bound the 32-image step; multi-tensor
ops keep it to about ten, where a per-parameter loop took about 4,000) and its CPU time."""

from __future__ import annotations

import time

import timm
import torch
from torch.profiler import ProfilerActivity, profile

from src.models.extractor.sam import SAM

GPU = False
REPEATS = 5


def run() -> list[tuple[str, float, str]]:
    """sam_perturb_restore_ops and sam_perturb_restore_ms_cpu (one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = list(timm.create_model("efficientnet_b4", pretrained=False, num_classes=0).parameters())
        g = torch.Generator().manual_seed(0)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        sam = SAM(params, torch.optim.SGD, lr=0.1, momentum=0.9)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            sam.perturb()
            sam.restore()
        ops = sum(1 for e in prof.events() if e.key.startswith("aten::") and e.cpu_parent is None)
        start = time.perf_counter()
        for _ in range(REPEATS):
            sam.perturb()
            sam.restore()
        ms = 1e3 * (time.perf_counter() - start) / REPEATS
    finally:
        torch.set_num_threads(threads)
    return [("sam_perturb_restore_ops", float(ops), "ops"), ("sam_perturb_restore_ms_cpu", ms, "ms")]
