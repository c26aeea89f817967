"""Draws: one block of uniform numbers from a np.random.Generator, handed out in order (one generator call
per sample instead of one per value)."""

from __future__ import annotations

import numpy as np


class Draws:
    """`count` uniforms in [0, 1) drawn at once; each method takes the next one."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self._values = rng.random(count).tolist()
        self._next = 0

    def unit(self) -> float:
        """The next uniform in [0, 1)."""
        if self._next == len(self._values):
            raise IndexError(f"all {len(self._values)} drawn numbers are used; draw a larger block")
        self._next += 1
        return self._values[self._next - 1]

    def uniform(self, low: float, high: float) -> float:
        """Uniform in [low, high)."""
        return low + (high - low) * self.unit()

    def index(self, count: int) -> int:
        """Uniform integer in [0, count)."""
        return min(int(self.unit() * count), count - 1)

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self.unit() < p
