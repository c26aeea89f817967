"""make_pseudo_fake: one real face frame in, a (real, fake, mask) triple at output size out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from data_modules.blending import masks, transforms
from data_modules.blending.config import BlendConfig
from data_modules.blending.crop import check_face_input, crop_square, random_margin_box
from data_modules.blending.landmarks import flip_landmarks

_DEGENERATE: Counter[str] = Counter()


@dataclass(frozen=True)
class PseudoFake:
    """One generated sample; `fake` equals `real` wherever `mask` is 0."""

    real: np.ndarray  # uint8 [S,S,3]
    fake: np.ndarray  # uint8 [S,S,3]
    mask: np.ndarray  # float32 [S,S] in [0,1], already scaled by the blend ratio
    mask_type: str  # global_<variant> | eyes | mouth | lower_face
    params: dict[str, Any]
    landmarks: np.ndarray  # float32 [68,2] in output pixels (after crop and flip)


def degenerate_resamples() -> dict[str, int]:
    """How often a mask vanished under the blur and was redrawn in this process, by mask type."""
    return dict(_DEGENERATE)


def _draw_mask(points: np.ndarray, group: str, variant: str, affine: np.ndarray, rng: np.random.Generator,
               cfg: BlendConfig, mask_type: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The blurred mask at working size (peak 1), redrawing blur kernels until some interior survives."""
    size = cfg.image_size // masks.MASK_DOWNSAMPLE
    to_small = size / cfg.image_size
    polygons = [((p @ affine[:, :2].T + affine[:, 2]) + 0.5) * to_small - 0.5
                for p in masks.region_polygons(points, group, variant)]
    hull = masks.fill_hulls((size, size), polygons)
    (lo1, hi1), (lo2, hi2) = cfg.blur_kernels
    for attempt in range(cfg.max_resample + 1):
        map_x, map_y = masks.elastic_maps(size, cfg.elastic_alpha, cfg.elastic_sigma, to_small, rng)
        high = max(1, hi1 >> attempt)  # each redraw halves the eroding kernel's upper bound
        k1 = int(rng.integers(min(lo1, high), high + 1))
        k2 = int(rng.integers(lo2, hi2 + 1))
        warped = cv2.remap(hull, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        to_kernel = to_small * cfg.kernel_scale
        small = masks.blur_stages(warped, masks.odd_kernel(k1 * to_kernel), masks.odd_kernel(k2 * to_kernel))
        if small is not None:
            return small, {"blur_kernels": [k1, k2], "resamples": attempt}
        _DEGENERATE[mask_type] += 1
    raise ValueError(f"the {mask_type} mask stays empty after {cfg.max_resample} redraws: its landmark "
                     f"region is degenerate (points {points.min(0).tolist()}..{points.max(0).tolist()})")


def _roi(small: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """Output-size box x0, y0, x1, y1 holding every non-zero pixel of the upsampled mask."""
    x, y, w, h = cv2.boundingRect((small > 0).view(np.uint8))
    f = size / small.shape[0]
    return (max(int((x - 1) * f), 0), max(int((y - 1) * f), 0),
            min(int(np.ceil((x + w + 1) * f)), size), min(int(np.ceil((y + h + 1) * f)), size))


def _transform(image: np.ndarray, color: dict | None, detail: dict | None) -> np.ndarray:
    if color is not None:
        image = transforms.apply_color(image, color)
    if detail is not None:
        image = transforms.apply_detail(image, detail)
    return image


def _moved_source(image: np.ndarray, affine: np.ndarray, box: tuple[int, int, int, int],
                  color: dict | None, detail: dict | None) -> np.ndarray:
    """The (optionally transformed) source moved by `affine`, only over output box x0, y0, x1, y1."""
    x0, y0, x1, y1 = box
    inverse = cv2.invertAffineTransform(affine)
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64) @ inverse.T
    size = image.shape[0]
    sx0, sy0 = (max(int(np.floor(v)) - 2, 0) for v in corners.min(0))
    sx1, sy1 = (min(int(np.ceil(v)) + 3, size) for v in corners.max(0))
    region = _transform(image[sy0:sy1, sx0:sx1], color, detail)
    local = affine.copy()
    local[:, 2] += affine[:, :2] @ (sx0, sy0) - (x0, y0)
    return cv2.warpAffine(region, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def make_pseudo_fake(frame: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, cfg: BlendConfig
                     ) -> PseudoFake:
    """Self-blend one face: a pure function of (frame, landmarks, rng state, cfg)."""
    check_face_input(frame, landmarks)
    size = cfg.image_size
    box, margins = random_margin_box(landmarks.astype(np.float32), cfg.crop_margin, rng)
    image, points = crop_square(frame, landmarks.astype(np.float32), box, size)
    flip = bool(rng.random() < cfg.hflip_p)
    if flip:
        image, points = cv2.flip(image, 1), flip_landmarks(points, size)

    group = cfg.mask_groups[int(rng.choice(len(cfg.mask_groups), p=cfg.mask_probs))]
    variant = cfg.global_variants[int(rng.integers(len(cfg.global_variants)))] if group == "global" else ""
    mask_type = f"global_{variant}" if variant else group
    scale = float(rng.uniform(*cfg.scale))
    shift = rng.uniform(-cfg.translate, cfg.translate, 2) * size
    centre = points.mean(0)
    affine = np.array([[scale, 0.0, (1 - scale) * centre[0] + shift[0]],
                       [0.0, scale, (1 - scale) * centre[1] + shift[1]]])
    small, mask_params = _draw_mask(points, group, variant, affine, rng, cfg, mask_type)
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])

    side = "source" if rng.random() < 0.5 else "target"
    color = transforms.draw_color(rng) if rng.random() < cfg.color_p else None
    detail = transforms.draw_detail(rng) if rng.random() < cfg.sharpness_p else None

    mask = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    if ratio != 1.0:
        mask *= np.float32(ratio)
    x0, y0, x1, y1 = _roi(small, size)
    real = _transform(image, color, detail) if side == "target" else image
    source = _moved_source(image, affine, (x0, y0, x1, y1), *((color, detail) if side == "source" else (None, None)))
    weight = mask[y0:y1, x0:x1]
    fake = real.copy()
    fake[y0:y1, x0:x1] = cv2.blendLinear(real[y0:y1, x0:x1], source, 1.0 - weight, weight)

    jpeg = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)) if rng.random() < cfg.jpeg_p else None
    down = float(rng.uniform(*cfg.downscale_scale)) if rng.random() < cfg.downscale_p else None
    if down is not None:
        real, fake = transforms.apply_downscale(real, down), transforms.apply_downscale(fake, down)
    if jpeg is not None:
        real, fake = transforms.apply_jpeg(real, jpeg), transforms.apply_jpeg(fake, jpeg)
    params = {
        "crop_box": list(box), "crop_margins": [float(m) for m in margins], "flip": flip,
        "mask_group": group, "mask_variant": variant, "affine_scale": scale,
        "affine_shift": [float(v) for v in shift], "blend_ratio": ratio, **mask_params,
        "transformed_side": side, "color": color, "detail": detail, "jpeg_quality": jpeg, "downscale": down,
        "mask_box": [x0, y0, x1, y1],
    }
    return PseudoFake(real=real, fake=fake, mask=mask, mask_type=mask_type, params=params, landmarks=points)
