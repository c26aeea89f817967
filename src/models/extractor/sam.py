"""Sharpness-Aware Minimisation (Foret et al., 2021) around any base optimiser.

A SAM update is two passes: gradients at w give the ascent direction e = rho * g / ||g||; `perturb()` moves
to w + e; gradients there, after `restore()` moves back to w, drive the base optimiser's `step()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer


class SAM(Optimizer):
    """SAM wrapper; its param_groups and state_dict are the base optimiser's, so schedulers and resume work."""

    def __init__(self, params: Iterable[Any], base_optimizer: type[Optimizer], rho: float = 0.05,
                 **base_kwargs: Any) -> None:
        if rho <= 0:
            raise ValueError(f"SAM rho must be > 0, got {rho}")
        super().__init__(params, {"rho": rho, **base_kwargs})
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.rho = rho
        self._offsets: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _params_with_grad(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """L2 norm over every parameter gradient (one scalar, on the first parameter's device)."""
        params = self._params_with_grad()
        # one multi-tensor kernel per dtype instead of a norm kernel per parameter (stack promotes dtypes)
        norms = torch._foreach_norm([p.grad for p in params])
        return torch.linalg.vector_norm(torch.stack(norms).float())

    @torch.no_grad()
    def perturb(self) -> torch.Tensor:
        """Move to w + rho * g / ||g|| (the first SAM step) and return ||g||."""
        if self._offsets:
            raise RuntimeError("SAM.perturb() called twice without restore()")
        norm = self.grad_norm()
        scale = self.rho / (norm + 1e-12)
        params = self._params_with_grad()
        offsets = torch._foreach_mul([p.grad for p in params], scale)
        torch._foreach_add_(params, offsets)
        self._offsets = list(zip(params, offsets, strict=True))
        return norm

    @torch.no_grad()
    def restore(self) -> None:
        """Move back to w, keeping the gradients computed at w + e."""
        if self._offsets:
            params, offsets = zip(*self._offsets, strict=True)
            torch._foreach_sub_(list(params), list(offsets))
        self._offsets = []

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None, closure_steps: bool = False) -> Any:
        """The base optimiser's step (call after `restore()`); a closure, if given, is evaluated first.

        closure_steps: the closure applied the base step itself (a replayed CUDA graph that captured the whole
        update), so only the closure runs; passing it through Lightning keeps the step count and hooks.
        """
        if self._offsets:
            raise RuntimeError("SAM.step() called while perturbed: call restore() first")
        if closure_steps:
            if closure is None:
                raise ValueError("SAM.step(closure_steps=True) needs the closure that takes the step")
            return closure()
        if closure is not None:
            with torch.enable_grad():
                closure()
        return self.base_optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter."""
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The base optimiser's state (momentum buffers, lr): SAM itself keeps nothing between updates."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the base optimiser's state."""
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state


@contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics stay unchanged inside (SAM's second, perturbed pass)."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved.append((m, m.momentum))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum
