"""make_pseudo_fake: one real face frame in, a (real, fake, mask) triple at output size out.

The `sbi` recipe is the reference's (data_modules/blending/sbi.py); this module makes the `strong` one."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np

import data_modules.blending.masks as masks
import data_modules.blending.placement as placement
import data_modules.blending.transforms as transforms
from data_modules.blending.config import REFERENCE_SIZE, BlendConfig, SbiRecipe
from data_modules.blending.crop import (
    INFERENCE_MARGIN,
    check_face_input,
    crop_square,
    inference_box,
    random_margin_box,
)
from data_modules.blending.landmarks import flip_landmarks
from data_modules.blending.sample import PseudoFake
from data_modules.blending.sbi import make_sbi_fake

_DEGENERATE: Counter[str] = Counter()


def degenerate_resamples() -> dict[str, int]:
    """How often a mask vanished under the blur and was redrawn in this process, by mask type."""
    return dict(_DEGENERATE)


def _draw_mask(polygons: list[np.ndarray], affine: np.ndarray, k2: int, rng: np.random.Generator, cfg: BlendConfig,
               mask_type: str, work: int) -> tuple[tuple[np.ndarray, int, int], dict[str, Any]]:
    """The blurred mask at half the working size `work` (peak 1) as a patch and its top-left corner, redrawing
    the elastic field and blur kernels until some interior survives the first stage."""
    size = work // masks.MASK_DOWNSAMPLE
    to_small = size / work
    scale, shift = affine[[0, 1], [0, 1]].astype(np.float32), affine[:, 2].astype(np.float32)
    hull = masks.fill_hulls((size, size), [p * scale + shift for p in polygons], to_small)
    to_work = work / cfg.image_size  # elastic sizes are given in output pixels
    std = masks.elastic_std(cfg.recipe.elastic_alpha, cfg.recipe.elastic_sigma) * to_work * to_small
    lo1, hi1 = cfg.recipe.blur_kernels[0]
    to_kernel = to_small * work / REFERENCE_SIZE
    for attempt in range(cfg.recipe.max_resample + 1):
        bent = masks.elastic_warp(hull, std, 2.0 * cfg.recipe.elastic_sigma * to_work * to_small, rng)
        high = max(1, hi1 >> attempt)  # each redraw halves the eroding kernel's upper bound
        k1 = int(rng.integers(min(lo1, high), high + 1))
        small = masks.blur_stages(bent, masks.odd_kernel(k1 * to_kernel), masks.odd_kernel(k2 * to_kernel))
        if small is not None:
            return small, {"blur_kernels": [k1, k2], "resamples": attempt}
        _DEGENERATE[mask_type] += 1
    raise ValueError(f"the {mask_type} mask stays empty after {cfg.recipe.max_resample} redraws: its landmark region "
                     f"is degenerate (points span {np.ptp(np.concatenate(polygons), 0).tolist()} px)")


@cache
def _cumulative(probs: tuple[float, ...]) -> np.ndarray:
    """Normalised cumulative probabilities: searchsorted(rng.random()) draws like rng.choice(p=probs)."""
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    cdf.flags.writeable = False
    return cdf


@cache
def _mask_reach(cfg: BlendConfig, work: int, k2: int) -> float:
    """How far (working px) the mask may reach beyond its moved polygons: elastic warp, the second blur of
    kernel `k2` (configured px), upsampling."""
    to_small = 1.0 / masks.MASK_DOWNSAMPLE
    blur = masks.odd_kernel(k2 * to_small * work / REFERENCE_SIZE) // 2 + 2
    to_work = work / cfg.image_size
    return masks.elastic_bound(cfg.recipe.elastic_alpha, cfg.recipe.elastic_sigma) * to_work + blur * masks.MASK_DOWNSAMPLE


def _upsample(patch: np.ndarray, x: int, y: int, small: int, size: int
              ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The output-size mask from a working-size patch at x, y, and the box x0, y0, x1, y1 holding its
    non-zero pixels; with an exact 2x factor only the patch is interpolated."""
    mask = np.zeros((size, size), np.float32)
    if size == 2 * small:
        h, w = patch.shape
        mask[2 * y:2 * (y + h), 2 * x:2 * (x + w)] = cv2.resize(patch, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        return mask, (2 * x, 2 * y, 2 * (x + w), 2 * (y + h))
    full = np.zeros((small, small), np.float32)
    full[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    cv2.resize(full, (size, size), dst=mask, interpolation=cv2.INTER_LINEAR)
    bx, by, bw, bh = cv2.boundingRect((mask > 0).view(np.uint8))
    return mask, (bx, by, bx + bw, by + bh)


def _transform(image: np.ndarray, color: dict | None, detail: dict | None) -> np.ndarray:
    """`image` with the drawn colour change, then the sharpness/downscale change (either may be None)."""
    if color is not None:
        image = transforms.apply_color(image, color)
    if detail is not None:
        image = transforms.apply_detail(image, detail)
    return image


def _keep_inside(mask: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Zero `mask` outside box x0, y0, x1, y1, in place."""
    x0, y0, x1, y1 = box
    mask[:y0] = 0
    mask[y1:] = 0
    mask[:, :x0] = 0
    mask[:, x1:] = 0


@dataclass(frozen=True)
class _Blend:
    """A self-blend at working size: real and fake images, the mask and the box holding its non-zero pixels."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    box: tuple[int, int, int, int]
    points: np.ndarray
    mask_type: str
    params: dict[str, Any]


def _self_blend(frame: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, cfg: BlendConfig, work: int
                ) -> _Blend:
    """Crop, flip, draw the mask and blend a transformed source into the target, all at `work` x `work`."""
    if cfg.inference_crop:
        box, margins = inference_box(landmarks), np.full(4, INFERENCE_MARGIN)
    else:
        box, margins = random_margin_box(landmarks, cfg.recipe.crop_margin, rng)
    image, points = crop_square(frame, landmarks, box, work)
    flip = bool(rng.random() < cfg.hflip_p)
    if flip:
        image, points = cv2.flip(image, 1), flip_landmarks(points, work)

    group = cfg.mask_groups[int(_cumulative(cfg.mask_probs).searchsorted(rng.random(), side="right"))]
    variant = cfg.global_variants[int(rng.integers(len(cfg.global_variants)))] if group == "global" else ""
    mask_type = f"global_{variant}" if variant else group
    scale = float(rng.uniform(*cfg.recipe.scale))
    shift = rng.uniform(-cfg.recipe.translate, cfg.recipe.translate, 2) * work
    k2 = int(rng.integers(cfg.recipe.blur_kernels[1][0], cfg.recipe.blur_kernels[1][1] + 1))
    polygons = masks.region_polygons(points, group, variant)
    where = placement.place(np.concatenate(polygons), _mask_reach(cfg, work, k2), scale, shift, points.mean(0))
    affine = where.affine
    small, mask_params = _draw_mask(polygons, affine, k2, rng, cfg, mask_type, work)
    ratio = float(cfg.blend_ratios[int(rng.integers(len(cfg.blend_ratios)))])

    side = "source" if rng.random() < 0.5 else "target"
    color = transforms.draw_color(rng) if rng.random() < cfg.recipe.color_p else None
    detail = transforms.draw_detail(rng) if rng.random() < cfg.recipe.sharpness_p else None

    mask, found = _upsample(*small, work // masks.MASK_DOWNSAMPLE, work)
    x0, y0, x1, y1 = placement.intersect(found, placement.clip_box(where.out_box, work))
    if (x0, y0, x1, y1) != found:
        _keep_inside(mask, (x0, y0, x1, y1))
    if ratio != 1.0:  # the mask is zero outside its box
        mask[y0:y1, x0:x1] *= np.float32(ratio)
    real = _transform(image, color, detail) if side == "target" else image
    moved = cv2.resize(placement.source_box(image, where.src_box), placement.box_size(where.out_box),
                       interpolation=cv2.INTER_LINEAR)
    ox, oy = where.out_box[:2]
    source = moved[y0 - oy:y1 - oy, x0 - ox:x1 - ox]  # the moved source under the mask's box
    if side == "source":
        source = _transform(source, color, detail)
    weight = mask[y0:y1, x0:x1]
    fake = real.copy()
    cv2.blendLinear(real[y0:y1, x0:x1], source, 1.0 - weight, weight, dst=fake[y0:y1, x0:x1])
    params = {
        "crop_box": list(box), "crop_margins": [float(m) for m in margins], "flip": flip,
        "mask_group": group, "mask_variant": variant, "affine": affine.round(6).tolist(),
        "blend_ratio": ratio, **mask_params, "transformed_side": side, "color": color, "detail": detail,
    }
    return _Blend(real, fake, mask, (x0, y0, x1, y1), points, mask_type, params)


def _upscale(blend: _Blend, size: int) -> _Blend:
    """The blend resampled from its working size to size x size (the robustness downscale's way back up)."""
    real, fake, mask = (cv2.resize(a, (size, size), interpolation=cv2.INTER_LINEAR)
                        for a in (blend.real, blend.fake, blend.mask))
    r = size / blend.real.shape[0]
    x0, y0, x1, y1 = blend.box  # output pixel X interpolates working pixels around (X + 0.5) / r - 0.5
    box = (max(math.floor((x0 - 0.5) * r - 0.5), 0), max(math.floor((y0 - 0.5) * r - 0.5), 0),
           min(math.ceil((x1 + 0.5) * r - 0.5), size), min(math.ceil((y1 + 0.5) * r - 0.5), size))
    return _Blend(real, fake, mask, box, (blend.points + 0.5) * np.float32(r) - 0.5, blend.mask_type, blend.params)


MIN_WORK = 32  # smallest working size of a downscaled blend


def working_size(size: int, down: float | None) -> int:
    """The even size at which a blend is made: the output size, or the robustness downscale's size."""
    return size if down is None else max(2 * round(size * down / 2), MIN_WORK)


def make_pseudo_fake(frame: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, cfg: BlendConfig
                     ) -> PseudoFake:
    """Self-blend one face: a pure function of (frame, landmarks, rng state, cfg), by cfg's recipe.

    The strong recipe's robustness downscale blends at the reduced size and resamples the result up to the
    output size: the same down-and-up of real and fake, without blending at full size first."""
    if isinstance(cfg.recipe, SbiRecipe):
        return make_sbi_fake(frame, landmarks, rng, cfg)
    check_face_input(frame, landmarks)
    size = cfg.image_size
    jpeg = int(rng.integers(cfg.recipe.jpeg_quality[0], cfg.recipe.jpeg_quality[1] + 1)) if rng.random() < cfg.recipe.jpeg_p else None
    down = float(rng.uniform(*cfg.recipe.downscale_scale)) if rng.random() < cfg.recipe.downscale_p else None
    work = working_size(size, down)
    blend = _self_blend(frame, landmarks.astype(np.float32, copy=False), rng, cfg, work)
    if work != size:
        blend = _upscale(blend, size)
    real, fake = blend.real, blend.fake
    if jpeg is not None:
        real, fake = transforms.jpeg_pair(real, fake, blend.box, jpeg)
    params = {"recipe": "strong", **blend.params, "jpeg_quality": jpeg, "downscale": down, "work_size": work,
              "mask_box": list(blend.box)}
    return PseudoFake(real=real, fake=fake, mask=blend.mask, mask_type=blend.mask_type, params=params,
                      landmarks=blend.points)
