"""Where the moved source lands: a scale + shift chosen so the source is a plain resize of an integer box.

The random affine of the source is a scale about the face centre plus a shift. Snapping it so that an
integer source box maps exactly onto an integer output box lets cv2.resize (fast) move the source, and the
mask is drawn with the very same snapped affine, so mask and source always move together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Placement:
    """Output box x0, y0, x1, y1 (may overhang the image) that the source box (same layout) resizes onto."""

    out_box: tuple[int, int, int, int]
    src_box: tuple[int, int, int, int]

    @property
    def affine(self) -> np.ndarray:
        """2x3 map from source pixels to output pixels (pixel-centre convention of cv2.resize)."""
        (x0, y0, x1, y1), (a0, b0, a1, b1) = self.out_box, self.src_box
        sx, sy = (x1 - x0) / (a1 - a0), (y1 - y0) / (b1 - b0)
        return np.array([[sx, 0.0, x0 - 0.5 + (0.5 - a0) * sx], [0.0, sy, y0 - 0.5 + (0.5 - b0) * sy]])


def place(region: np.ndarray, pad: float, scale: float, shift: np.ndarray, centre: np.ndarray) -> Placement:
    """Snap `scale` about `centre` then `shift` so that the moved `region` points plus `pad` fit the output box."""
    out, src = [], []
    axes = zip(region.min(0).tolist(), region.max(0).tolist(), centre.tolist(), shift.tolist(), strict=True)
    for low, high, c, t in axes:
        lo = math.floor((low - c) * scale + c + t - pad)
        hi = math.ceil((high - c) * scale + c + t + pad)
        start = round((lo - c - t) / scale + c)
        out.append((lo, hi))
        src.append((start, start + max(round((hi - lo) / scale), 1)))
    (x0, x1), (y0, y1) = out
    (a0, a1), (b0, b1) = src
    return Placement((x0, y0, x1, y1), (a0, b0, a1, b1))


def source_box(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """image[y0:y1, x0:x1], edge-replicated where the box leaves the image."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1), max(min(x1, w), 1), max(min(y1, h), 1)
    part = image[cy0:max(cy1, cy0 + 1), cx0:max(cx1, cx0 + 1)]
    if (cx0, cy0, cx1, cy1) == (x0, y0, x1, y1):
        return part
    return cv2.copyMakeBorder(part, cy0 - y0, y1 - max(cy1, cy0 + 1), cx0 - x0, x1 - max(cx1, cx0 + 1),
                              cv2.BORDER_REPLICATE)


def clip_box(box: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    """A box cut to the size x size image."""
    x0, y0, x1, y1 = box
    return max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)


def box_size(box: tuple[int, int, int, int]) -> tuple[int, int]:
    """Width and height of a box."""
    return box[2] - box[0], box[3] - box[1]


def intersect(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The overlap of two boxes (empty boxes have x1 <= x0)."""
    return max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])


def ceil_radius(kernel: int) -> int:
    """Reach of an odd Gaussian kernel in pixels."""
    return math.ceil(kernel / 2)
