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
    """The largest displacement (px) elastic_displace can produce."""
    return ELASTIC_CLIP * elastic_std(alpha, sigma) * np.sqrt(2) + 1.0


def hull_outlines(polygons: list[np.ndarray], step: float) -> tuple[np.ndarray, list[int]]:
    """The convex hull of each point set, its outline resampled every `step` pixels (so it can bend): all
    outline points [N,2] float32, polygon after polygon, and where each polygon's points end."""
    hulls = [cv2.convexHull(poly.astype(np.float32))[:, 0] for poly in polygons]
    corners = np.concatenate(hulls)
    edges = np.concatenate([np.concatenate([h[1:], h[:1]]) for h in hulls]) - corners
    counts = np.maximum(np.ceil(np.hypot(edges[:, 0], edges[:, 1]) / step).astype(int), 1)
    per_point = np.repeat(counts, counts)
    t = ((np.arange(len(per_point)) - np.repeat(np.cumsum(counts) - counts, counts)) / per_point).astype(np.float32)
    points = np.repeat(corners, counts, axis=0) + np.repeat(edges, counts, axis=0) * t[:, None]
    hull_ends = np.cumsum([len(h) for h in hulls])
    return points, np.cumsum(counts)[hull_ends - 1].tolist()


def elastic_displace(points: np.ndarray, size: int, alpha: float, sigma: float, rng: np.random.Generator
                     ) -> np.ndarray:
    """Move points [N,2] (output px) by a smooth random field: noise on a grid of spacing 2*sigma, bilinearly
    interpolated, with the std of the usual elastic transform (`elastic_std`)."""
    cells = max(2, round(size / (2.0 * sigma)))
    noise = np.clip(rng.standard_normal((cells + 1, cells + 1, 2)), -ELASTIC_CLIP, ELASTIC_CLIP)
    noise *= elastic_std(alpha, sigma)
    grid = np.clip(points * (cells / size), 0, cells - 1e-6).astype(np.float32)
    # bilinear lookup of the field at every point (cv2.remap: fractions resolved to 1/32 of a cell)
    moved = cv2.remap(noise.astype(np.float32), grid[:, None, 0], grid[:, None, 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    return points + moved[:, 0]


def fill_outlines(shape: tuple[int, int], points: np.ndarray, ends: list[int], scale: float) -> np.ndarray:
    """uint8 mask (0/255): the union of the filled outlines (output px, split at `ends`), drawn at `scale`."""
    mask = np.zeros(shape, np.uint8)
    fixed = np.round(((points + 0.5) * scale - 0.5) * 16).astype(np.int32)
    for outline in np.split(fixed, ends[:-1]):
        cv2.fillPoly(mask, [outline], 255, cv2.LINE_8, 4)
    return mask


def odd_kernel(k: float) -> int:
    """The nearest odd kernel size >= 1."""
    return max(1, int(k) // 2 * 2 + 1)


def blur_stages(hull: np.ndarray, k1: int, k2: int) -> np.ndarray | None:
    """Blur, keep the fully covered interior, blur again, scale to a peak of 1; None when nothing survives.
    Only the hull's box grown by both kernels' reach is filtered: everything else stays exactly 0."""
    x, y, w, h = cv2.boundingRect(hull)
    if w == 0:
        return None
    reach = k1 // 2 + k2 // 2 + 1
    (rows, cols), y0, x0 = hull.shape, max(y - reach, 0), max(x - reach, 0)
    y1, x1 = min(y + h + reach, rows), min(x + w + reach, cols)
    first = cv2.GaussianBlur(hull[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255), (k1, k1), 0)
    cv2.threshold(first, _THRESHOLD, 0.0, cv2.THRESH_TOZERO, dst=first)
    second = cv2.GaussianBlur(first, (k2, k2), 0)
    peak = float(second.max())
    if not peak > 0.0:
        return None
    second *= np.float32(1.0 / peak)
    out = np.zeros(hull.shape, np.float32)
    out[y0:y1, x0:x1] = second
    return out
