"""Landmark-aligned face swap: Delaunay-triangulated piecewise-affine warp of a source face onto a target's
68 landmarks, then Poisson (cv2.seamlessClone) or colour-matched alpha blending, with per-frame jitter."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

BLENDS = ("poisson", "alpha")


def yaw_proxy(landmarks: np.ndarray) -> float:
    """Signed head turn: nose-tip offset from the eye-corner midpoint, in inter-ocular distances."""
    left, right, nose = landmarks[36], landmarks[45], landmarks[30]
    return float((nose[0] - (left[0] + right[0]) / 2) / (np.linalg.norm(right - left) + 1e-6))


def triangulate(landmarks: np.ndarray) -> np.ndarray:
    """Delaunay triangles [K,3] (landmark indices) of a face, in a stable order."""
    simplices = np.sort(Delaunay(landmarks.astype(np.float64)).simplices, axis=1)
    return simplices[np.lexsort(simplices.T[::-1])]


def warp_piecewise(source: np.ndarray, src_lms: np.ndarray, dst_lms: np.ndarray, triangles: np.ndarray,
                   shape: tuple[int, int]) -> np.ndarray:
    """The source face warped triangle by triangle onto dst_lms, in an image of `shape` (zeros elsewhere)."""
    h, w = shape
    out = np.zeros((h, w, 3), dtype=source.dtype)
    for tri in triangles:
        src, dst = src_lms[tri].astype(np.float32), dst_lms[tri].astype(np.float32)
        x0, y0 = np.floor(dst.min(0)).astype(int)
        x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        local = dst - np.float32([x0, y0])
        matrix = cv2.getAffineTransform(src, local)
        patch = cv2.warpAffine(source, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        inside = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(inside, np.round(local * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
        region = out[y0:y1, x0:x1]
        region[inside > 0] = patch[inside > 0]
    return out


def face_mask(landmarks: np.ndarray, shape: tuple[int, int], erode: float = 0.06, feather: float = 0.08
              ) -> np.ndarray:
    """Soft mask float32 [H,W] in [0,1]: the landmark hull, eroded and feathered by fractions of the face size."""
    h, w = shape
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    face = float(max(np.ptp(landmarks, axis=0)))
    k = max(1, int(face * erode)) | 1
    mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a margin
    sigma = max(0.5, face * feather / 3)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)


def colour_match(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` with the LAB mean and std of `reference`, both measured where mask > 0.5."""
    x, y, w, h = cv2.boundingRect((mask > 0.5).astype(np.uint8))
    if w * h < 16:
        return image
    box = (slice(y, y + h), slice(x, x + w))
    inside = mask[box] > 0.5
    src = cv2.cvtColor(image[box], cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference[box], cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = src[inside].mean(0), src[inside].std(0) + 1e-3
    r_mean, r_std = ref[inside].mean(0), ref[inside].std(0) + 1e-3
    out = image.copy()
    matched = np.clip((src - s_mean) / s_std * r_std + r_mean, 0, 255).astype(np.uint8)
    out[box] = cv2.cvtColor(matched, cv2.COLOR_LAB2RGB)
    return out


def swap_face(target: np.ndarray, target_lms: np.ndarray, source: np.ndarray, source_lms: np.ndarray,
              triangles: np.ndarray, rng: np.random.Generator, jitter_px: float = 1.0, blend: str = "poisson"
              ) -> np.ndarray:
    """Target frame (RGB uint8) with the source face warped onto its jittered landmarks and blended in."""
    if blend not in BLENDS:
        raise ValueError(f"unknown blend '{blend}'; valid choices: {', '.join(BLENDS)}")
    dst = target_lms + rng.normal(0.0, jitter_px, (1, 2)) + rng.normal(0.0, jitter_px / 2, target_lms.shape)
    shape = target.shape[:2]
    warped = warp_piecewise(source, source_lms, dst, triangles, shape)
    mask = face_mask(dst, shape)
    warped = colour_match(warped, target, mask)
    if blend == "alpha":
        alpha = mask[..., None]
        return (warped * alpha + target * (1 - alpha) + 0.5).astype(np.uint8)
    binary = (mask > 0.5).astype(np.uint8) * 255
    x, y, bw, bh = cv2.boundingRect(binary)
    if bw == 0:
        return target.copy()
    return cv2.seamlessClone(warped, target, binary, (x + bw // 2, y + bh // 2), cv2.NORMAL_CLONE)
