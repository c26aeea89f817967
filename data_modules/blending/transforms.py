"""Source/target and robustness transforms: albumentations kernels built once, parameters drawn from our rng.

Calling each transform's `apply` with parameters drawn from the caller's np.random.Generator keeps every
output a pure function of that generator (albumentations' own RNG is never consulted). The colour change is
one affine colour map per call: exact for the RGB shift and brightness/contrast, and for the HSV shift a
model fitted once per process to albumentations' own HSV transform. Sharpening applies albumentations'
Sharpen kernel as a box blur plus a weighted sum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network on import
import albumentations as A  # noqa: E402
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
        downscale=A.Downscale(interpolation_pair=linear, p=1.0),
        jpeg=A.ImageCompression(p=1.0),
    )


def draw_color(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one colour change: RGB shift, HSV shift, brightness/contrast (one draw of 8 uniforms)."""
    u = 2.0 * rng.random(8) - 1.0
    return {
        "rgb": (u[:3] * RGB_SHIFT).tolist(),
        "hsv": (u[3:6] * (HUE, SAT, VAL)).tolist(),
        "contrast": float(1.0 + u[6] * CONTRAST),
        "brightness": float(u[7] * BRIGHTNESS * 255.0),
    }


def color_pipeline(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The albumentations colour change itself: RGB shift, then HSV shift, then brightness/contrast."""
    k = kernels()
    out = k.rgb_shift.apply(image, noise_map=np.asarray(p["rgb"], np.float32))
    out = k.hsv.apply(out, hue_shift=p["hsv"][0], sat_shift=p["hsv"][1], val_shift=p["hsv"][2])
    return k.brightness_contrast.apply(out, alpha=p["contrast"], beta=p["brightness"])


HSV_FIT_DRAWS = 400  # HSV shifts on which the colour model is fitted, once per process


def _fit_colours() -> np.ndarray:
    """Colours the HSV model is fitted on [1,N,3]: an 8-level RGB lattice without its most saturated colours
    (faces and backgrounds rarely hold them, and they bend the affine fit most)."""
    levels = np.linspace(0, 255, 8).round().astype(np.uint8)
    lattice = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, -1, 3)
    saturation = cv2.cvtColor(lattice, cv2.COLOR_RGB2HSV)[0, :, 1]
    return lattice[:, saturation <= 150]


def _hsv_features(hue: float, sat: float, val: float) -> np.ndarray:
    """Quadratic features of an HSV shift."""
    return np.array([1.0, hue, sat, val, hue * hue, sat * sat, val * val, hue * sat, hue * val, sat * val])


@cache
def _hsv_model() -> np.ndarray:
    """[10, 12] coefficients: the 3x4 affine map closest to albumentations' HSV shift on `_fit_colours`, as a
    quadratic in the shift; fitted once per process from fixed draws, so every process gets the same map."""
    colours = _fit_colours()
    design = np.concatenate([colours[0], np.ones((colours.shape[1], 1), np.uint8)], axis=1).astype(np.float64)
    shifts = np.random.default_rng(0).uniform((-HUE, -SAT, -VAL), (HUE, SAT, VAL), (HSV_FIT_DRAWS, 3))
    maps = [np.linalg.lstsq(design, kernels().hsv.apply(colours, hue_shift=h, sat_shift=s, val_shift=v)[0]
                            .astype(np.float64), rcond=None)[0].T.ravel() for h, s, v in shifts]
    features = np.stack([_hsv_features(*shift) for shift in shifts])
    return np.linalg.lstsq(features, np.stack(maps), rcond=None)[0]


def color_matrix(p: dict[str, Any]) -> np.ndarray:
    """The colour change drawn by `draw_color` as one 3x4 affine map: the RGB shift and brightness/contrast
    exactly, albumentations' HSV shift through `_hsv_model` (within ~3 grey levels of the exact pipeline)."""
    hsv = (_hsv_features(*p["hsv"]) @ _hsv_model()).reshape(3, 4)
    linear, offset = hsv[:, :3], hsv[:, 3] + hsv[:, :3] @ np.asarray(p["rgb"])
    out = np.empty((3, 4), np.float32)
    out[:, :3] = linear * p["contrast"]
    out[:, 3] = offset * p["contrast"] + p["brightness"]
    return out


def apply_color(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply a colour change drawn by `draw_color` to every pixel (`color_matrix`)."""
    return cv2.transform(image, color_matrix(p))


def draw_detail(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of one sharpness-or-downscale change."""
    if rng.random() < 0.5:
        return {"kind": "sharpen", "alpha": float(rng.uniform(*SHARPEN_ALPHA)),
                "lightness": float(rng.uniform(*SHARPEN_LIGHTNESS))}
    return {"kind": "downscale", "scale": float(rng.uniform(*SOURCE_DOWNSCALE))}


def sharpen(image: np.ndarray, alpha: float, lightness: float) -> np.ndarray:
    """albumentations' Sharpen kernel, (1 - alpha) * identity + alpha * [[-1,-1,-1],[-1,8+lightness,-1],
    [-1,-1,-1]], applied as (1 + alpha(8 + lightness)) x - 9 alpha box3(x): two fast passes, not a 3x3
    float convolution (within 2 grey levels of it)."""
    return cv2.addWeighted(image, 1.0 + alpha * (8.0 + lightness), cv2.blur(image, (3, 3)), -9.0 * alpha, 0.0)


def apply_detail(image: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Apply a change drawn by `draw_detail`."""
    if p["kind"] == "sharpen":
        return sharpen(image, p["alpha"], p["lightness"])
    return kernels().downscale.apply(image, scale=p["scale"])


def apply_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip at `quality`."""
    return kernels().jpeg.apply(image, quality=quality, image_type=".jpg")


JPEG_MCU = 16  # 4:2:0 JPEG codes 16x16 pixel blocks independently (up to lossless DC prediction)


def jpeg_pair(real: np.ndarray, fake: np.ndarray, box: tuple[int, int, int, int], quality: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """JPEG round trip of `real` and of `fake`, which equals `real` outside box x0, y0, x1, y1.

    The fake is coded only over the block-aligned window around the box plus one block of margin; all but
    the outer half block of it is byte-identical to coding the whole image (blocks outside match the real's).
    """
    coded = apply_jpeg(real, quality)
    h, w = real.shape[:2]
    x0, y0, x1, y1 = box
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
