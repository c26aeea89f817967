"""The reference's source transforms (DiffFake utils/augmentations.py), each an exact equivalent of the
albumentations 2.0.4 op it pins, with parameters drawn from the caller's np.random.Generator.

Colour: RGBShift (p 0.3), HueSaturationValue, RandomBrightnessContrast, always in that order; then one of
RandomDownScale (nearest-neighbour down by 2 or 4, bilinear back up) and Sharpen. On uint8 images
albumentations truncates the RGB and saturation/value shifts to integers and the brightness/contrast
result towards zero; the lookup tables below do the same, so the outputs are byte-identical (up to OpenCV's
own HSV -> RGB rounding at the end of image rows, see `hsv_to_rgb`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import cv2
import numpy as np
from albucore import sz_lut

from data_modules.blending.config import SbiRecipe
from data_modules.blending.draws import Draws
from data_modules.blending.window import Window

HUE_LEVELS = 180  # OpenCV's uint8 hue range


def draw_colour(draws: Draws, recipe: SbiRecipe) -> dict[str, Any]:
    """RGB shift (whole levels per channel: the truncated uniform draw, as albumentations applies it; None
    when not applied), HSV shifts, contrast factor and brightness offset (levels)."""
    applied = draws.chance(recipe.rgb_shift_p)
    shifts = [int(draws.uniform(-recipe.rgb_shift, recipe.rgb_shift)) for _ in range(3)]
    return {"rgb": shifts if applied else None,
            "hsv": [draws.uniform(-limit, limit) for limit in recipe.hsv_shift],
            "contrast": 1.0 + draws.uniform(-recipe.contrast, recipe.contrast),
            "brightness": draws.uniform(-recipe.brightness, recipe.brightness) * 255.0}


def _shift_table(shift: int) -> np.ndarray:
    """x -> clip(x + shift) for uint8 x."""
    return np.clip(np.arange(256) + shift, 0, 255).astype(np.uint8)


def hue_table(shift: float) -> np.ndarray | None:
    """albumentations' hue lookup (x + shift wrapped at 180, truncated), None where it changes no hue."""
    table = np.mod(np.arange(256, dtype=np.int16) + shift, HUE_LEVELS).astype(np.uint8)
    return None if np.array_equal(table[:HUE_LEVELS], np.arange(HUE_LEVELS)) else table


def contrast_table(contrast: float, brightness: float) -> np.ndarray:
    """albumentations' brightness/contrast lookup: x * contrast + brightness in float32, clipped, truncated."""
    ramp = np.arange(256, dtype=np.float32) * np.float32(contrast) + np.float32(brightness)
    return np.clip(ramp, 0, 255).astype(np.uint8)


def shift_levels(image: np.ndarray, shifts: list[int]) -> np.ndarray:
    """clip(x + shift) per channel: a saturating add of the positive shifts, then a saturating subtract of the
    negative ones (OpenCV adds a negative scalar to uint8 in a slow wider type, ~60x slower)."""
    out = cv2.add(image, (*(max(s, 0) for s in shifts), 0))
    if min(shifts) < 0:
        cv2.subtract(out, (*(max(-s, 0) for s in shifts), 0), dst=out)
    return out


def apply_colour(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """RGBShift (a saturating add of whole levels), HueSaturationValue (an HSV round trip even where the
    shifts change nothing; saturation and value shifts truncate to whole levels), RandomBrightnessContrast.
    Each lookup runs on one channel's plane: OpenCV's own per-channel LUT is scalar code."""
    out = image if p["rgb"] is None else shift_levels(image, p["rgb"])
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
    tables = [hue_table(p["hsv"][0])] + [_shift_table(int(s)) if int(s) else None for s in p["hsv"][1:]]
    for channel, table in enumerate(tables):
        if table is not None:
            plane = cv2.extractChannel(hsv, channel)
            cv2.insertChannel(sz_lut(plane, table, inplace=True), hsv, channel)
    return sz_lut(hsv_to_rgb(hsv), contrast_table(p["contrast"], p["brightness"]), inplace=True)


@cache
def vector_width() -> int:
    """Pixels per vector block of OpenCV's HSV -> RGB on this CPU: it converts each row in such blocks and the
    row's leftover pixels in scalar code, which rounds 3/4 of colours one level differently."""
    probe = np.random.default_rng(0).integers(0, (HUE_LEVELS, 256, 256), (1, 4096, 3)).astype(np.uint8)
    vector = cv2.cvtColor(probe, cv2.COLOR_HSV2RGB)[0]
    scalar = cv2.cvtColor(probe.reshape(-1, 1, 3), cv2.COLOR_HSV2RGB)[:, 0]
    telling = probe[:, (vector != scalar).any(1)][:, :256]  # colours the two paths convert differently
    full = cv2.cvtColor(telling, cv2.COLOR_HSV2RGB)
    return next(n for n in range(1, telling.shape[1] + 1)
                if np.array_equal(cv2.cvtColor(telling[:, :n], cv2.COLOR_HSV2RGB), full[:, :n]))


def hsv_to_rgb(image: np.ndarray) -> np.ndarray:
    """cv2's HSV -> RGB with every pixel in a whole vector block (one run of all pixels, the last block
    padded), so each pixel converts the same wherever it sits; a whole-image call agrees where its rows are
    whole blocks (widths 224, 256, 384 ... for 32-pixel blocks) and is one level off in 3/4 of each row's
    last W % vector_width() pixels elsewhere."""
    flat = image.reshape(1, -1, 3)
    count = flat.shape[1]
    whole = count - count % vector_width()
    out = np.empty_like(flat)
    if whole:
        cv2.cvtColor(flat[:, :whole], cv2.COLOR_HSV2RGB, dst=out[:, :whole])
    if count > whole:
        tail = np.zeros((1, vector_width(), 3), np.uint8)
        tail[0, :count - whole] = flat[0, whole:]
        out[0, whole:] = cv2.cvtColor(tail, cv2.COLOR_HSV2RGB)[0, :count - whole]
    return out.reshape(image.shape)


def draw_detail(draws: Draws, recipe: SbiRecipe) -> dict[str, Any]:
    """One of a downscale (factor from `downscale_factors`) and a sharpen (alpha, lightness)."""
    downscale = draws.chance(recipe.downscale_p)
    factor = recipe.downscale_factors[draws.index(len(recipe.downscale_factors))]
    alpha, lightness = draws.uniform(*recipe.sharpen_alpha), draws.uniform(*recipe.sharpen_lightness)
    if downscale:
        return {"kind": "downscale", "factor": factor}
    return {"kind": "sharpen", "alpha": alpha, "lightness": lightness}


def sharpen_kernel(alpha: float, lightness: float) -> np.ndarray:
    """albumentations' Sharpen kernel, float32: (1 - alpha) * identity
    + alpha * [[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]]."""
    kernel = np.full((3, 3), -1.0, np.float32)
    kernel[1, 1] = 8.0 + lightness
    kernel *= np.float32(alpha)
    kernel[1, 1] += np.float32(1.0 - alpha)
    return kernel


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """The reference's RandomDownScale: nearest neighbour to int(W / factor) x int(H / factor), bilinear back."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (int(w / factor), int(h / factor)), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def sharpen(image: np.ndarray, alpha: float, lightness: float) -> np.ndarray:
    """albumentations Sharpen (kernel method): a 3x3 convolution, border reflected."""
    return cv2.filter2D(image, -1, sharpen_kernel(alpha, lightness))


def transform_window(image: np.ndarray, window: Window, colour: dict[str, Any], detail: dict[str, Any]
                     ) -> np.ndarray:
    """The source transforms of the whole `image`, computed only under `window` (byte-identical there).

    Colour works pixel by pixel; sharpening needs one pixel of context; a downscale whose factor divides the
    image size is computed on the window widened to whole blocks plus one block of context (the colour only
    on the pixels the nearest-neighbour step keeps), else on the whole image."""
    h, w = image.shape[:2]
    if detail["kind"] == "sharpen":
        outer = window.grow(1, w, h)
        coloured = apply_colour(outer.of(image), colour)  # OpenCV reads the strided view as it is
        return window.inside(outer).of(sharpen(coloured, detail["alpha"], detail["lightness"]))
    factor = detail["factor"]
    if w % factor or h % factor:
        return window.of(downscale(apply_colour(image, colour), factor))
    outer = Window(*(max((v // factor - 1) * factor, 0) for v in (window.x0, window.y0)),
                   min((-(-window.x1 // factor) + 1) * factor, w), min((-(-window.y1 // factor) + 1) * factor, h))
    kept = np.ascontiguousarray(outer.of(image)[::factor, ::factor])
    small = apply_colour(kept, colour)
    up = cv2.resize(small, (outer.x1 - outer.x0, outer.y1 - outer.y0), interpolation=cv2.INTER_LINEAR)
    return window.inside(outer).of(up)
