"""Blend masks from 68 landmarks: global hull variants and local regions, elastic warp and two-stage blur.

Masks are drawn at half the output size (the blur makes finer detail invisible) and upsampled once.
"""

from __future__ import annotations

import cv2
import numpy as np

from data_modules.blending import landmarks as lm

MASK_DOWNSAMPLE = 2
_THRESHOLD = 1.0 - 1e-3  # after the first blur, keep only the fully covered interior


def _forehead(points: np.ndarray, lift: float) -> np.ndarray:
    """The brow points moved up along the face axis by `lift` times the nose-bridge-to-chin length."""
    axis = points[8] - points[27]
    return points[lm.BROWS] - axis * lift


def region_polygons(points: np.ndarray, kind: str, variant: str) -> list[np.ndarray]:
    """Point sets whose convex hulls, united, form the mask of `kind` (global needs its `variant`)."""
    if kind == "eyes":
        return [np.concatenate([points[np.r_[lm.BROWS, lm.EYES]], _below_eyes(points)])]
    if kind == "mouth":
        return [points[np.r_[lm.MOUTH, lm.JAW[5:12], lm.NOSE_TIP, 31:36]]]
    if kind == "lower_face":
        return [points[np.r_[lm.JAW[2:15], lm.NOSE_TIP, 31:36]]]
    if kind != "global":
        raise ValueError(f"unknown mask kind '{kind}'")
    if variant == "all":
        return [points]
    if variant == "dfl":
        half_right = np.r_[lm.JAW[0:9], lm.RIGHT_BROW, lm.NOSE_BRIDGE]
        half_left = np.r_[lm.JAW[8:17], lm.LEFT_BROW, lm.NOSE_BRIDGE]
        return [points[half_right], points[half_left], points[np.r_[lm.NOSE, lm.JAW[3:14]]]]
    if variant == "components":
        return [points[np.r_[lm.BROWS, lm.EYES]], points[np.r_[lm.NOSE, lm.MOUTH]],
                points[np.r_[lm.JAW[3:14], lm.MOUTH]]]
    if variant == "extended":
        return [np.concatenate([points, _forehead(points, 0.35)])]
    raise ValueError(f"unknown global mask variant '{variant}'")


def _below_eyes(points: np.ndarray) -> np.ndarray:
    """The eye contours pushed down by a third of the eye height, so the region holds the lower lids."""
    eyes = points[lm.EYES]
    drop = (points[lm.NOSE_TIP, 1] - eyes[:, 1].mean()) / 3.0
    return eyes + (0.0, max(drop, 1.0))


def fill_hulls(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    """uint8 mask (0/255) holding the union of the convex hulls of `polygons` (sub-pixel vertices)."""
    mask = np.zeros(shape, np.uint8)
    for poly in polygons:
        hull = cv2.convexHull(np.round(poly * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8, shift=4)
    return mask


def elastic_maps(size: int, alpha: float, sigma: float, scale: float, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """remap() grids with a smooth random displacement: noise on a grid of spacing 2*sigma, cubic-upsampled.

    The displacement's std matches white noise in [-1, 1] smoothed by a Gaussian of `sigma` and scaled by
    `alpha` (the usual elastic transform), in pixels at output size, then multiplied by `scale`.
    """
    cells = max(2, round(size / (2.0 * sigma * scale)))
    std = alpha * (1 / np.sqrt(3)) / (2 * np.sqrt(np.pi) * sigma) * scale
    noise = rng.standard_normal((cells, cells, 2), dtype=np.float32) * np.float32(std)
    disp = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    grid = np.arange(size, dtype=np.float32)
    return disp[..., 0] + grid[None, :], disp[..., 1] + grid[:, None]


def odd_kernel(k: float) -> int:
    """The nearest odd kernel size >= 1."""
    return max(1, int(k) // 2 * 2 + 1)


def blur_stages(hull: np.ndarray, k1: int, k2: int) -> np.ndarray | None:
    """Blur, keep the fully covered interior, blur again, scale to a peak of 1; None when nothing survives."""
    first = cv2.GaussianBlur(hull.astype(np.float32) * np.float32(1 / 255), (k1, k1), 0)
    cv2.threshold(first, _THRESHOLD, 0.0, cv2.THRESH_TOZERO, dst=first)
    second = cv2.GaussianBlur(first, (k2, k2), 0)
    peak = float(second.max())
    if not peak > 0.0:
        return None
    second *= np.float32(1.0 / peak)
    return second
