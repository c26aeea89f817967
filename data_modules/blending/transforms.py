"""Source/target and robustness transforms: albumentations kernels built once, parameters drawn from our rng.

Calling each transform's `apply` with parameters drawn from the caller's np.random.Generator keeps every
output a pure function of that generator (albumentations' own RNG is never consulted).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import albumentations as A
import cv2
import numpy as np

# Source-side ranges in uint8 units (hue in OpenCV's 0..179 scale), as SBI's source transforms.
RGB_SHIFT = 20.0
HUE, SAT, VAL = 5.0, 15.0, 15.0
BRIGHTNESS, CONTRAST = 0.1, 0.1
SHARPEN_ALPHA, SHARPEN_LIGHTNESS = (0.2, 0.5), (0.5, 1.0)
SOURCE_DOWNSCALE = (0.5, 0.9)


@dataclass(frozen=True)
class Kernels:
    """The albumentations transforms whose `apply` we call."""

    rgb_shift: A.RGBShift
    hsv: A.HueSaturationValue
    brightness_contrast: A.RandomBrightnessContrast
    sharpen: A.Sharpen
    downscale: A.Downscale
    jpeg: A.ImageCompression


@cache
def kernels() -> Kernels:
    """Build the transforms once per process."""
    linear = {"downscale": cv2.INTER_LINEAR, "upscale": cv2.INTER_LINEAR}
    return Kernels(
        rgb_shift=A.RGBShift(p=1.0),
        hsv=A.HueSaturationValue(p=1.0),
        brightness_contrast=A.RandomBrightnessContrast(p=1.0),
        sharpen=A.Sharpen(p=1.0),
        downscale=A.Downscale(interpolation_pair=linear, p=1.0),
        jpeg=A.ImageCompression(p=1.0),
    )


def sharpening_matrix(alpha: float, lightness: float) -> np.ndarray:
    """3x3 kernel mixing identity with a Laplacian edge boost of strength `alpha`."""
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1.0
    edges = -np.ones((3, 3), np.float32)
    edges[1, 1] = 8.0 + lightness
    return (1.0 - alpha) * identity + alpha * edges


def draw_color(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one colour change: RGB shift, HSV shift, brightness/contrast."""
    return {
        "rgb": [float(v) for v in rng.uniform(-RGB_SHIFT, RGB_SHIFT, 3)],
        "hsv": [float(v) for v in rng.uniform((-HUE, -SAT, -VAL), (HUE, SAT, VAL))],
        "contrast": float(1.0 + rng.uniform(-CONTRAST, CONTRAST)),
        "brightness": float(rng.uniform(-BRIGHTNESS, BRIGHTNESS) * 255.0),
    }


def color_pipeline(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The albumentations colour change itself: RGB shift, then HSV shift, then brightness/contrast."""
    k = kernels()
    out = k.rgb_shift.apply(image, noise_map=np.asarray(p["rgb"], np.float32))
    out = k.hsv.apply(out, hue_shift=p["hsv"][0], sat_shift=p["hsv"][1], val_shift=p["hsv"][2])
    return k.brightness_contrast.apply(out, alpha=p["contrast"], beta=p["brightness"])


def _anchor_colours() -> np.ndarray:
    """One row of 27 colours spanning the RGB cube, so the colour fit also holds off the face's gamut."""
    levels = np.array([16, 128, 240], np.uint8)
    return np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, 27, 3)


_ANCHORS = _anchor_colours()
SAMPLE_GRID = 24  # the colour fit sees about SAMPLE_GRID x SAMPLE_GRID pixels of the image


def apply_color(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply a colour change drawn by `draw_color`, fast: the albumentations pipeline runs on a grid of pixels
    of `image` (plus anchor colours) and its least-squares affine colour map is applied to every pixel."""
    step = max(1, min(image.shape[:2]) // SAMPLE_GRID)
    grid = image[step // 2::step, step // 2::step].reshape(-1, 3)
    before = np.concatenate([grid[:len(grid) // 27 * 27], _ANCHORS[0]])
    after = color_pipeline(before.reshape(-1, _ANCHORS.shape[1], 3), p).reshape(-1, 3)
    design = np.concatenate([before, np.ones((len(before), 1), np.uint8)], axis=1).astype(np.float64)
    fit = np.linalg.solve(design.T @ design + 1e-6 * np.eye(4), design.T @ after.astype(np.float64))
    return cv2.transform(image, fit.T.astype(np.float32))


def draw_detail(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one sharpness-or-downscale change."""
    if rng.random() < 0.5:
        return {"kind": "sharpen", "alpha": float(rng.uniform(*SHARPEN_ALPHA)),
                "lightness": float(rng.uniform(*SHARPEN_LIGHTNESS))}
    return {"kind": "downscale", "scale": float(rng.uniform(*SOURCE_DOWNSCALE))}


def apply_detail(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply a change drawn by `draw_detail`."""
    k = kernels()
    if p["kind"] == "sharpen":
        return k.sharpen.apply(image, alpha=p["alpha"], sharpening_matrix=sharpening_matrix(p["alpha"], p["lightness"]))
    return k.downscale.apply(image, scale=p["scale"])


def apply_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip at `quality`."""
    return kernels().jpeg.apply(image, quality=quality, image_type=".jpg")


JPEG_MCU = 16  # 4:2:0 JPEG codes 16x16 pixel blocks independently (up to lossless DC prediction)
ROBUST_REACH = 8  # pixels by which a downscale round trip can spread a difference


def jpeg_pair(real: np.ndarray, fake: np.ndarray, box: tuple[int, int, int, int], quality: int,
              reach: int = ROBUST_REACH) -> tuple[np.ndarray, np.ndarray]:
    """JPEG round trip of `real` and of `fake`, which equals `real` outside box x0, y0, x1, y1 grown by `reach`.

    The fake is coded only over the block-aligned window around the box plus one block of margin; all but
    the outer half block of it is byte-identical to coding the whole image (blocks outside match the real's).
    """
    coded = apply_jpeg(real, quality)
    h, w = real.shape[:2]
    x0, y0, x1, y1 = box[0] - reach, box[1] - reach, box[2] + reach, box[3] + reach
    ox0, oy0 = (max((v // JPEG_MCU - 1) * JPEG_MCU, 0) for v in (x0, y0))
    ox1, oy1 = min((-(-x1 // JPEG_MCU) + 1) * JPEG_MCU, w), min((-(-y1 // JPEG_MCU) + 1) * JPEG_MCU, h)
    part = apply_jpeg(np.ascontiguousarray(fake[oy0:oy1, ox0:ox1]), quality)
    # chroma upsampling reaches a couple of pixels across block edges: paste all but half a block of margin
    half = JPEG_MCU // 2
    ix0, iy0 = (o + half if o > 0 else 0 for o in (ox0, oy0))
    ix1, iy1 = ox1 - half if ox1 < w else w, oy1 - half if oy1 < h else h
    fake_coded = coded.copy()
    fake_coded[iy0:iy1, ix0:ix1] = part[iy0 - oy0:iy1 - oy0, ix0 - ox0:ix1 - ox0]
    return coded, fake_coded


def apply_downscale(image: np.ndarray, scale: float) -> np.ndarray:
    """Down- then up-sampling by `scale`."""
    return kernels().downscale.apply(image, scale=scale)
