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


ELASTIC_CLIP = 4.0  # displacement noise is clipped at this many standard deviations


def elastic_std(alpha: float, sigma: float) -> float:
    """Displacement std (px) of white noise in [-1, 1] smoothed by a Gaussian of `sigma`, times `alpha`."""
    return alpha * (1 / np.sqrt(3)) / (2 * np.sqrt(np.pi) * sigma)


def elastic_bound(alpha: float, sigma: float) -> float:
    """The largest displacement (px) elastic_displace can produce."""
    return ELASTIC_CLIP * elastic_std(alpha, sigma) * np.sqrt(2) + 1.0


def hull_outlines(polygons: list[np.ndarray], step: float) -> list[np.ndarray]:
    """The convex hull of each point set, its outline resampled every `step` pixels (so it can bend)."""
    outlines = []
    for poly in polygons:
        hull = cv2.convexHull(poly.astype(np.float32))[:, 0]
        edges = np.roll(hull, -1, axis=0) - hull
        counts = np.maximum(np.ceil(np.hypot(edges[:, 0], edges[:, 1]) / step).astype(int), 1)
        t = np.concatenate([np.arange(c) / c for c in counts]).astype(np.float32)
        outlines.append(np.repeat(hull, counts, axis=0) + np.repeat(edges, counts, axis=0) * t[:, None])
    return outlines


def elastic_displace(outlines: list[np.ndarray], size: int, alpha: float, sigma: float,
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Move outline points (output px) by a smooth random field: noise on a grid of spacing 2*sigma,
    bilinearly interpolated, with the std of the usual elastic transform (`elastic_std`)."""
    cells = max(2, round(size / (2.0 * sigma)))
    noise = np.clip(rng.standard_normal((cells + 1, cells + 1, 2)), -ELASTIC_CLIP, ELASTIC_CLIP)
    noise *= elastic_std(alpha, sigma)
    moved = []
    for pts in outlines:
        g = np.clip(pts * (cells / size), 0, cells - 1e-6)
        i, f = g.astype(int), g - np.floor(g)
        fx, fy = f[:, :1], f[:, 1:]
        d = (noise[i[:, 1], i[:, 0]] * (1 - fx) * (1 - fy) + noise[i[:, 1], i[:, 0] + 1] * fx * (1 - fy)
             + noise[i[:, 1] + 1, i[:, 0]] * (1 - fx) * fy + noise[i[:, 1] + 1, i[:, 0] + 1] * fx * fy)
        moved.append(pts + d)
    return moved


def fill_outlines(shape: tuple[int, int], outlines: list[np.ndarray], scale: float) -> np.ndarray:
    """uint8 mask (0/255): the union of the filled outlines (output px), drawn at `scale` of output size."""
    mask = np.zeros(shape, np.uint8)
    for pts in outlines:
        cv2.fillPoly(mask, [np.round(((pts + 0.5) * scale - 0.5) * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    return mask


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
