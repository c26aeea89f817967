"""Window: an axis-aligned rectangle of pixels, for ops that only need to run where a mask is."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Window:
    """Rows y0:y1 and columns x0:x1 of an image."""

    x0: int
    y0: int
    x1: int
    y1: int

    def grow(self, margin: int, width: int, height: int) -> Window:
        """This window widened by `margin` on every side, cut to a width x height image."""
        return Window(max(self.x0 - margin, 0), max(self.y0 - margin, 0), min(self.x1 + margin, width),
                      min(self.y1 + margin, height))

    def of(self, image: np.ndarray) -> np.ndarray:
        """The view of `image` under this window."""
        return image[self.y0:self.y1, self.x0:self.x1]

    def inside(self, outer: Window) -> Window:
        """This window in the coordinates of `outer`, which holds it."""
        return Window(self.x0 - outer.x0, self.y0 - outer.y0, self.x1 - outer.x0, self.y1 - outer.y0)


def bounding_window(mask: np.ndarray, x0: int = 0, y0: int = 0) -> Window | None:
    """The window holding the non-zero pixels of `mask` (offset by x0, y0), None when there are none."""
    x, y, w, h = cv2.boundingRect(mask if mask.dtype == np.uint8 else (mask > 0).view(np.uint8))
    return Window(x0 + x, y0 + y, x0 + x + w, y0 + y + h) if w else None
