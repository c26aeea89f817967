"""Blend masks from 68 landmarks: global hull variants and local regions, elastic warp and two-stage blur.

Masks are drawn at half the output size (the blur makes finer detail invisible) and upsampled once.
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

import data_modules.blending.landmarks as lm

MASK_DOWNSAMPLE = 2


def _forehead(points: np.ndarray, lift: float) -> np.ndarray:
    """The brow points moved up along the face axis by `lift` times the nose-bridge-to-chin length."""
    axis = points[8] - points[27]
    return points[lm.BROWS] - axis * lift


# landmark index sets of each region, built once (a region's mask is the union of their convex hulls)
_EYE_REGION = np.r_[lm.BROWS, lm.EYES]
_REGIONS: dict[str, list[np.ndarray]] = {
    "mouth": [np.r_[lm.MOUTH, lm.JAW[5:12], lm.NOSE_TIP, 31:36]],
    "lower_face": [np.r_[lm.JAW[2:15], lm.NOSE_TIP, 31:36]],
    "global_dfl": [np.r_[lm.JAW[0:9], lm.RIGHT_BROW, lm.NOSE_BRIDGE], np.r_[lm.JAW[8:17], lm.LEFT_BROW, lm.NOSE_BRIDGE],
                   np.r_[lm.NOSE, lm.JAW[3:14]]],
    "global_components": [_EYE_REGION, np.r_[lm.NOSE, lm.MOUTH], np.r_[lm.JAW[3:14], lm.MOUTH]],
}


def region_polygons(points: np.ndarray, kind: str, variant: str) -> list[np.ndarray]:
    """Point sets whose convex hulls, united, form the mask of `kind` (global needs its `variant`)."""
    if kind == "eyes":
        return [np.concatenate([points[_EYE_REGION], _below_eyes(points)])]
    if kind == "global":
        if variant == "all":
            return [points]
        if variant == "extended":
            return [np.concatenate([points, _forehead(points, 0.35)])]
        kind = f"global_{variant}"
        if kind not in _REGIONS:
            raise ValueError(f"unknown global mask variant '{variant}'")
    elif kind not in ("mouth", "lower_face"):
        raise ValueError(f"unknown mask kind '{kind}'")
    return [points[index] for index in _REGIONS[kind]]


def _below_eyes(points: np.ndarray) -> np.ndarray:
    """The eye contours pushed down by a third of the eye height, so the region holds the lower lids."""
    eyes = points[lm.EYES]
    drop = (points[lm.NOSE_TIP, 1] - eyes[:, 1].mean()) / 3.0
    return eyes + (0.0, max(drop, 1.0))


ELASTIC_CLIP = 4.0  # displacement noise is clipped at this many standard deviations


def elastic_std(alpha: float, sigma: float) -> float:
    """Displacement std (px) of white noise in [-1, 1] smoothed by a Gaussian of `sigma`, times `alpha`."""
    return alpha * (1 / np.sqrt(3)) / (2 * np.sqrt(np.pi) * sigma)


def elastic_bound(alpha: float, sigma: float) -> float:
    """The largest displacement (px) elastic_warp can produce at output size."""
    return ELASTIC_CLIP * elastic_std(alpha, sigma) * np.sqrt(2) + 1.0


def fill_hulls(shape: tuple[int, int], polygons: list[np.ndarray], scale: float) -> np.ndarray:
    """uint8 mask (0/255) of the union of the point sets' convex hulls (output px), drawn at `scale`."""
    mask = np.zeros(shape, np.uint8)
    for poly in polygons:
        fixed = np.round(((poly + 0.5) * scale - 0.5) * 16).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(fixed), 255, cv2.LINE_8, 4)
    return mask


@cache
def _identity_map(rows: int, cols: int) -> np.ndarray:
    """Pixel (x, y) coordinates [rows, cols, 2] float32, built once per size."""
    ys, xs = np.mgrid[:rows, :cols].astype(np.float32)
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def elastic_warp(mask: np.ndarray, std: float, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Bend the outline of a 0/255 mask by a smooth random field: clipped normal noise of std `std` (px) on
    a grid of `spacing` px over the mask's box, bilinearly interpolated; only that box is remapped."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return mask
    bound = math.ceil(ELASTIC_CLIP * std * math.sqrt(2)) + 1
    (rows, cols), x0, y0 = mask.shape, max(x - bound, 0), max(y - bound, 0)
    x1, y1 = min(x + w + bound, cols), min(y + h + bound, rows)
    noise = rng.standard_normal((math.ceil((y1 - y0) / spacing) + 1, math.ceil((x1 - x0) / spacing) + 1, 2),
                                dtype=np.float32)
    np.clip(noise, -ELASTIC_CLIP, ELASTIC_CLIP, out=noise)
    noise *= np.float32(std)
    field = cv2.resize(noise, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    field += _identity_map(rows, cols)[y0:y1, x0:x1]
    bent = np.zeros_like(mask)
    bent[y0:y1, x0:x1] = cv2.remap(mask, field, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=0)
    return bent


def odd_kernel(k: float) -> int:
    """The nearest odd kernel size >= 1."""
    return max(1, int(k) // 2 * 2 + 1)


def blur_stages(hull: np.ndarray, k1: int, k2: int) -> tuple[np.ndarray, int, int] | None:
    """Keep the interior that a k1 x k1 kernel fully covers (an erosion: blur, then keep what stays at 1),
    blur it with a k2 Gaussian and scale to a peak of 1. Returns the float32 patch around the non-zero
    pixels (one zero pixel of margin where there is room) and its top-left x, y; None when nothing survives."""
    x, y, w, h = cv2.boundingRect(hull)
    if w == 0:
        return None
    reach = k2 // 2 + 2
    (rows, cols), x0, y0 = hull.shape, max(x - reach, 0), max(y - reach, 0)
    x1, y1 = min(x + w + reach, cols), min(y + h + reach, rows)
    core = cv2.erode(hull[y0:y1, x0:x1], _square(k1), borderType=cv2.BORDER_REPLICATE)
    cx, cy, cw, ch = cv2.boundingRect(core)
    if cw == 0:
        return None
    column, row = _gaussian(k2)
    soft = cv2.sepFilter2D(core, cv2.CV_32F, row, column)
    px0, py0 = max(cx - reach + 1, 0), max(cy - reach + 1, 0)
    px1, py1 = min(cx + cw + reach - 1, x1 - x0), min(cy + ch + reach - 1, y1 - y0)
    patch = soft[py0:py1, px0:px1]
    patch *= np.float32(1.0 / patch.max())
    return patch, x0 + px0, y0 + py0


@cache
def _gaussian(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row taps of OpenCV's default k x k Gaussian, the row taps scaled by 1/255 (uint8 input)."""
    column = cv2.getGaussianKernel(k, 0, cv2.CV_32F)
    row = column * np.float32(1 / 255)
    column.flags.writeable = row.flags.writeable = False
    return column, row


@cache
def _square(k: int) -> np.ndarray:
    """A k x k structuring element."""
    return np.ones((k, k), np.uint8)
