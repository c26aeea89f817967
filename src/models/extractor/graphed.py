"""One whole training update (SAM's two forward/backward passes, the ascent, the restore and the SGD step)
captured in a CUDA graph and replayed per batch from static input buffers: at 32 images per step an eager
update is bound by kernel launches, a replay is one launch.

A captured update bakes in the learning rate (the SGD step reads it as a host float) and the batch shape,
so a change of either recaptures. BatchNorm momentum is read the same way, so the second pass keeps its
frozen statistics exactly as in eager (frozen_bn_stats around it at capture time).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, nullcontext

import torch

from src.models.extractor.sam import SAM

WARMUP_STEPS = 3  # eager updates on a side stream before capture (cuDNN autotuning, lazy allocations)


def capture_blocker(device: torch.device, optimizer: torch.optim.Optimizer, has_scaler: bool, world_size: int,
                    compiled: bool) -> str | None:
    """Why the update cannot be captured in this setup, or None when it can."""
    base = optimizer.base_optimizer if isinstance(optimizer, SAM) else optimizer
    if not isinstance(optimizer, SAM) or not isinstance(base, torch.optim.SGD):
        return f"only SAM over SGD is captured, the optimiser is {type(optimizer).__name__}"
    if has_scaler:
        return "16-mixed's GradScaler decides on the host whether to step; use trainer.precision=bf16-mixed"
    if compiled:
        return "extractor.compile=true already graphs the backbone its own way; choose one of the two"
    if world_size > 1:
        return f"DDP's gradient all-reduce over {world_size} processes is not captured"
    if device.type != "cuda":
        return f"the module runs on {device.type}; CUDA graphs need a CUDA device"
    return None


Update = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class CapturedUpdate:
    """Eager warm-up updates, then one capture per (batch shape, learning rates) and replays."""

    def __init__(self, warmup: int = WARMUP_STEPS) -> None:
        self.warmup, self.eager_steps = warmup, 0
        self.key: Hashable | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.outputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.captures = 0

    @property
    def warming_up(self) -> bool:
        """True while the eager warm-up updates are still due."""
        return self.eager_steps < self.warmup

    @contextmanager
    def warmup_stream(self) -> Iterator[None]:
        """Run one eager warm-up update on a side stream (capture must not follow default-stream work directly)."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            yield
        torch.cuda.current_stream().wait_stream(stream)
        self.eager_steps += 1

    def needs_capture(self, key: Hashable) -> bool:
        """True when no graph was captured for this (shape, learning rates) key."""
        return self.graph is None or key != self.key

    def capture(self, update: Update, images: torch.Tensor, labels: torch.Tensor, key: Hashable) -> None:
        """Record `update` on static copies of the inputs; the recorded kernels do not run until replay."""
        self.graph = self.inputs = self.outputs = None  # free the previous graph's pool first
        torch.cuda.synchronize()
        self.inputs = (images.detach().clone(), labels.detach().clone())
        # autocast's weight-cast cache would hand the graph tensors freed after capture
        dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None
        autocast = nullcontext() if dtype is None else torch.autocast("cuda", dtype=dtype, cache_enabled=False)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the loader's pin-memory thread keeps calling CUDA while this thread captures
        with torch.cuda.graph(graph, capture_error_mode="thread_local"), autocast:
            loss, logits = update(*self.inputs)
        self.graph, self.outputs, self.key = graph, (loss.detach(), logits.detach()), key
        self.captures += 1

    def replay(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy the batch into the static buffers, replay; (loss, logits) of the first pass, cloned."""
        assert self.graph is not None and self.inputs is not None and self.outputs is not None
        self.inputs[0].copy_(images, non_blocking=True)
        self.inputs[1].copy_(labels, non_blocking=True)
        self.graph.replay()
        return self.outputs[0].clone(), self.outputs[1].clone()
