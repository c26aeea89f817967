"""The reference's blend masks: landmark hulls (DiffFake construct_pseudo_deepfake.py:37-59,
utils/DeepFakeMask.py, utils/funcs.py:46-61), moved with the source (nearest neighbour), bent by an elastic
field (albumentations ElasticTransform) and softened in two blur stages at 192-256 px (utils/funcs.py:63-105).

Every step but the elastic field is the reference's own op, run on the window holding the mask (the values
of the whole-image op, to float32 rounding in the blurs). The elastic field is drawn on a 4 px lattice with
the per-pixel field's statistics instead of per pixel; see `elastic_field`.
"""

from __future__ import annotations

import math
from functools import cache
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np

from data_modules.blending.config import SbiRecipe
from data_modules.blending.draws import Draws
from data_modules.blending.window import Window, bounding_window

# Landmark index sets (iBUG 68) whose convex hulls, united, make each mask.
_R_JAW, _L_JAW = np.r_[0:9, 17], np.r_[8:17, 26]
_R_EYE, _L_EYE = np.r_[17:22, 27, 31:36, 8], np.r_[22:27, 27, 31:36, 8]
_NOSE_RIDGE, _NOSE = np.r_[19:25, 8], np.r_[27:31, 31:36]
PARTS: dict[str, list[np.ndarray]] = {
    "global_dfl": [np.r_[0:17, 48:68, 0, 8, 16], np.r_[27:31, 33], np.r_[17:27, 0, 27, 16, 33]],
    "global_components": [_R_JAW, _L_JAW, np.r_[17:20, 8], np.r_[24:27, 8], _NOSE_RIDGE, _R_EYE, _L_EYE, _NOSE],
    "global_extended": [_R_JAW, _L_JAW, _NOSE_RIDGE, _R_EYE, _L_EYE, _NOSE],  # on brows raised by _raise_brows
    "global_all": [np.arange(68)],
    "eyes": [np.r_[17:27, 36:48, 0:2, 14:16]],
    "mouth": [np.r_[48:68, 4:13, 31:36]],
    "lower_face": [np.r_[1:16, 29:31]],
}
ELASTIC_KERNEL = 17  # albumentations' ElasticTransform smooths its noise with a fixed 17 x 17 Gaussian
LATTICE = 4  # px between the elastic field's noise nodes
LATTICE_TAPS = 7  # smoothing taps on the lattice (see _lattice_taps)
_FIELD_PAD = LATTICE_TAPS // 2 + 2  # lattice nodes around a window: smoothing reach plus the cubic's two nodes
MAX_SHIFT = 5.0  # px: displacements are clipped here (about 7 standard deviations; never reached in practice)
BAND = int(MAX_SHIFT) + 1  # px: only pixels this close to the mask's edge can change under the bend


def _raise_brows(points: np.ndarray) -> np.ndarray:
    """DeepFakeMask.extended: each brow moved away from the upper eyelid by half their distance (integer
    arithmetic, as there)."""
    p = points.copy()
    outer_r, outer_l = (p[36] + p[0]) // 2, (p[16] + p[45]) // 2
    lid_r = np.stack([(p[36] + outer_r) // 2, p[36], p[37], p[38], p[39]])
    lid_l = np.stack([p[42], p[43], p[44], p[45], (p[45] + outer_l) // 2])
    p[17:22] = p[17:22] + (p[17:22] - lid_r) // 2
    p[22:27] = p[22:27] + (p[22:27] - lid_l) // 2
    return p


def fill_mask(points: np.ndarray, mask_type: str, size: int) -> np.ndarray:
    """uint8 size x size mask (0/1): the union of the hulls of `mask_type`'s parts on the landmarks
    truncated to integers. (The reference's LINE_AA on a float mask draws as LINE_8: the mask is binary.)"""
    if mask_type not in PARTS:
        raise ValueError(f"unknown mask type '{mask_type}'; expected one of {sorted(PARTS)}")
    whole = points.astype(np.int32)
    if mask_type == "global_extended":
        whole = _raise_brows(whole)
    mask = np.zeros((size, size), np.uint8)
    for part in PARTS[mask_type]:
        cv2.fillConvexPoly(mask, cv2.convexHull(whole[part]), 1)
    return mask


def draw_affine(draws: Draws, recipe: SbiRecipe, size: int) -> dict[str, Any]:
    """albumentations Affine(translate_percent, scale, keep_ratio=False): whole-pixel shifts (truncated) and
    independent x and y scales."""
    tx, ty = (int(draws.uniform(-limit, limit) * size) for limit in recipe.translate)
    return {"translate": [tx, ty], "scale": [draws.uniform(*recipe.scale), draws.uniform(*recipe.scale)]}


def affine_matrix(p: dict[str, Any], size: int) -> np.ndarray:
    """The 2x3 map from source to moved pixels: scale about the image centre, then shift."""
    centre = size / 2 - 0.5
    (sx, sy), (tx, ty) = p["scale"], p["translate"]
    return np.array([[sx, 0.0, centre - sx * centre + tx], [0.0, sy, centre - sy * centre + ty]])


def warp_window(image: np.ndarray, affine: np.ndarray, out: Window, interpolation: int) -> np.ndarray:
    """cv2.warpAffine of `image` (black outside) under the window `out` of the moved image."""
    shifted = affine.copy()
    shifted[:, 2] -= (out.x0, out.y0)
    return cv2.warpAffine(image, shifted, (out.x1 - out.x0, out.y1 - out.y0), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def moved_window(hull: Window, affine: np.ndarray, size: int) -> Window:
    """A window of the moved image holding every pixel a nearest-neighbour warp can fill from `hull`."""
    xs = affine[0, 0] * np.array([hull.x0, hull.x1 - 1]) + affine[0, 2]
    ys = affine[1, 1] * np.array([hull.y0, hull.y1 - 1]) + affine[1, 2]
    return Window(math.floor(xs[0]) - 1, math.floor(ys[0]) - 1, math.ceil(xs[1]) + 2, math.ceil(ys[1]) + 2
                  ).grow(0, size, size)


def draw_elastic(draws: Draws, size: int) -> float:
    """The largest |noise| albumentations normalises its 2 x size x size standard normal draws by, drawn from
    its exact distribution (inverse CDF of the maximum)."""
    count = 2 * size * size
    tail = -math.expm1(math.log(max(draws.unit(), np.finfo(float).tiny)) / count) / 2
    return -NormalDist().inv_cdf(tail)


def _to_pixels(lattice: np.ndarray) -> np.ndarray:
    """A lattice image at pixel resolution: bicubic to LATTICE / 2 px, then bilinear to 1 px."""
    fine = cv2.resize(lattice, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return cv2.resize(fine, None, fx=LATTICE // 2, fy=LATTICE // 2, interpolation=cv2.INTER_LINEAR)


@cache
def _lattice_taps(sigma: float) -> np.ndarray:
    """Symmetric 1-D lattice taps whose pixel response through `_to_pixels` is, in least squares, the 17-tap
    Gaussian (so the field has the smoothed noise's correlations), scaled so the field's per-pixel variance,
    averaged over a lattice cell, is that of the 17 x 17 smoothing of unit white noise."""
    g = cv2.getGaussianKernel(ELASTIC_KERNEL, sigma, cv2.CV_64F).ravel()
    half, span = LATTICE_TAPS // 2, 4 * LATTICE_TAPS + 1
    responses = []
    for k in range(half + 1):
        lattice = np.zeros((span, span), np.float32)
        lattice[span // 2, [span // 2 - k, span // 2 + k]] = 1.0
        responses.append(_to_pixels(lattice).sum(0) / LATTICE)  # the row profile: x response of a node pair
    basis = np.stack(responses, 1).astype(np.float64)
    centre = int(np.argmax(basis[:, 0]))
    target = np.zeros(len(basis))
    target[centre - ELASTIC_KERNEL // 2:centre + ELASTIC_KERNEL // 2 + 1] = g
    weights = np.linalg.lstsq(basis, target, rcond=None)[0]
    taps = np.concatenate([weights[:0:-1], weights])
    taps *= math.sqrt((g ** 2).sum() / ((basis @ weights) ** 2).sum() * LATTICE)  # per-pixel variance, averaged
    taps = taps.astype(np.float32)
    taps.flags.writeable = False
    return taps


def field_grid(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """The x and y elastic field of a `shape` window on a LATTICE / 2 px grid ([rows, cols, 2] float32): unit
    normal noise on a LATTICE px grid, smoothed with `_lattice_taps`, interpolated bicubically."""
    taps = _lattice_taps(sigma)
    rows, cols = (n // LATTICE + 1 + 2 * _FIELD_PAD for n in shape)
    noise = rng.standard_normal((2 * rows, cols), dtype=np.float32)  # the x and y lattices stacked
    smooth = cv2.sepFilter2D(noise, -1, taps, taps, borderType=cv2.BORDER_REPLICATE).reshape(2, rows, cols)
    return cv2.resize(cv2.merge([smooth[0], smooth[1]]), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def field_at(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[N,2] float32 x and y values of a `field_grid` at the window's pixels `points` ([N,2] x, y), bilinearly."""
    # window px x is lattice coordinate x / LATTICE + pad, grid coordinate 2 (x / LATTICE + pad) + 0.5
    at = points.astype(np.float32, copy=False) * np.float32(2 / LATTICE)
    at += np.float32(2 * _FIELD_PAD + 0.5)
    return remap_points(grid, at, cv2.BORDER_REPLICATE)


def elastic_field(rng: np.random.Generator, shape: tuple[int, int], points: np.ndarray, sigma: float
                  ) -> np.ndarray:
    """[N,2] float32 x and y field values at `points` ([N,2] x, y) of a `shape` window, with the statistics
    of 17 x 17 smoothed unit white noise (std within 3%, correlations within 0.03 at lags of 1-16 px): unit
    normal noise on a LATTICE px grid, smoothed with `_lattice_taps`, interpolated bicubically to a
    LATTICE / 2 px grid and bilinearly to the points, in place of a normal draw for every pixel."""
    return field_at(field_grid(rng, shape, sigma), points)


ROW = 16384  # most points in one row of a remap map (OpenCV caps a row below 32767)


def remap_points(image: np.ndarray, at: np.ndarray, border: int) -> np.ndarray:
    """cv2.remap (bilinear, zero outside with BORDER_CONSTANT) of `image` at the [N,2] float32 x, y
    positions `at`; [N, channels]. The points go in as equal rows (one row up to ROW), padded by fewer than
    one point per row."""
    count = len(at)
    rows = -(-count // ROW)
    length = -(-count // rows)
    if rows * length == count:
        grid = np.ascontiguousarray(at, np.float32)
    else:
        grid = np.zeros((rows * length, 2), np.float32)
        grid[:count] = at
    out = cv2.remap(image, grid.reshape(rows, length, 2), None, cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    return out.reshape(rows * length, -1)[:count]


def elastic_bend(hull: np.ndarray, where: Window, rng: np.random.Generator, recipe: SbiRecipe, max_noise: float,
                 size: int) -> tuple[np.ndarray, Window]:
    """albumentations ElasticTransform(alpha, sigma) of a 0/1 mask that is zero outside `where`, as float:
    remapped bilinearly by alpha / max_noise times the field. Only pixels within `_reach` of the edge can
    change, so only they are remapped; returns the bent window and where it lies."""
    out = where.grow(BAND + 1, size, size)
    binary = np.zeros((out.y1 - out.y0, out.x1 - out.x0), np.uint8)
    where.inside(out).of(binary)[:] = hull
    bent = binary.astype(np.float32)
    if not cv2.countNonZero(hull):
        return bent, out
    grid = field_grid(rng, binary.shape, recipe.elastic_sigma)
    scale = np.float32(recipe.elastic_alpha / max_noise)
    square = _square(2 * _reach(grid, scale) + 1)
    edge = cv2.absdiff(cv2.dilate(binary, square, borderType=cv2.BORDER_CONSTANT, borderValue=0),
                       cv2.erode(binary, square, borderType=cv2.BORDER_CONSTANT, borderValue=0))
    points = cv2.findNonZero(edge).reshape(-1, 2)  # x, y
    xy = points.astype(np.float32)
    shift = field_at(grid, xy)
    shift *= scale
    np.clip(shift, -MAX_SHIFT, MAX_SHIFT, out=shift)
    shift += xy  # as albumentations' maps: pixel coordinates plus the field, in float32
    np.put(bent, points[:, 1] * bent.shape[1] + points[:, 0], remap_points(bent, shift, cv2.BORDER_CONSTANT))
    return bent, out


def _reach(grid: np.ndarray, scale: np.float32) -> int:
    """Chebyshev distance from the mask's edge beyond which no pixel changes under the bend: a bilinear read
    at x + shift (coordinates rounded to OpenCV's 1/32 px) touches pixels up to floor(|shift| + 1/64) + 1 away,
    and |shift| is at most scale x the grid's largest |value| (a bilinear read never exceeds its taps). Pixels
    whose taps are all alike read back exactly (OpenCV's weights are multiples of 1/1024), so leaving them
    out changes no value."""
    low, high, _, _ = cv2.minMaxLoc(grid.reshape(grid.shape[0], -1))
    largest = min(float(np.float32(max(high, -low)) * scale) * (1 + 1e-5), MAX_SHIFT)
    return min(int(largest + 1 / 64) + 1, BAND)


@cache
def _square(side: int) -> np.ndarray:
    square = np.ones((side, side), np.uint8)
    square.flags.writeable = False
    return square


def draw_edges(draws: Draws, recipe: SbiRecipe) -> dict[str, Any]:
    """utils/funcs.py blur_mask draws: the mask size (width, height), two odd kernel sizes, an integer sigma."""
    low, high = recipe.mask_size
    height, width = (low + draws.index(high - low + 1) for _ in range(2))
    kernels = [lo + 2 * draws.index((hi - lo) // 2 + 1) for lo, hi in recipe.blur_kernels]
    sigma = recipe.blur_sigma[0] + draws.index(recipe.blur_sigma[1] - recipe.blur_sigma[0] + 1)
    return {"mask_size": [width, height], "blur_kernels": kernels, "blur_sigma": sigma}


def _blur_window(image: np.ndarray, inside: Window, kernel: int, sigma: float) -> tuple[np.ndarray, Window]:
    """cv2.GaussianBlur of an image that is zero outside `inside`, computed on `inside` widened by the kernel
    (the zero band makes the default reflected border add nothing; cut at the image's own edges)."""
    h, w = image.shape
    outer = inside.grow(kernel, w, h)
    return cv2.GaussianBlur(outer.of(image), (kernel, kernel), sigma), outer


def soften(mask: np.ndarray, edges: dict[str, Any], size: int) -> tuple[np.ndarray, Window]:
    """utils/funcs.py blur_mask: resize to the drawn size, blur (first kernel), keep only what stays at the
    maximum, blur (second kernel and sigma), scale to a peak of 1 and resize back to size x size. Returns the
    mask and a window of it holding all its non-zero pixels."""
    width, height = edges["mask_size"]
    first, second = edges["blur_kernels"]
    small = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    where = bounding_window(small)
    if where is None:
        raise ValueError("the blend mask is empty after its move; check the landmarks")
    blurred, outer = _blur_window(small, where, first, 0)
    peak = blurred.max()
    # x / peak < 1 sets x to 0, and x / peak is 1 exactly where x == peak
    core = cv2.threshold(blurred, float(np.nextafter(peak, np.float32(0))), 1.0, cv2.THRESH_BINARY)[1]
    small[:] = 0
    outer.of(small)[:] = core
    kept = bounding_window(core, outer.x0, outer.y0)
    soft, outer = _blur_window(small, kept, second, edges["blur_sigma"])
    soft /= soft.max()
    small[:] = 0
    outer.of(small)[:] = soft
    spread = kept.grow(second // 2 + 1, width, height)  # holds every non-zero pixel of the blur
    scale_x, scale_y = size / width, size / height  # a small pixel reaches output pixels within one of its own
    box = Window(max(math.floor((spread.x0 - 1) * scale_x), 0), max(math.floor((spread.y0 - 1) * scale_y), 0),
                 min(math.ceil((spread.x1 + 1) * scale_x), size), min(math.ceil((spread.y1 + 1) * scale_y), size))
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR), box
