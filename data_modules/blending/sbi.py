"""The paper's pseudo-fakes (blend=sbi): DiffFake's make_pseudo_deepfake (construct_pseudo_deepfake.py)
on the crop resized to the output size, as a pure function of (frame, landmarks, rng, cfg).

One side (source or target) gets the colour change and one of a downscale and a sharpen; the source and a
landmark mask are moved by one affine; the mask is bent, softened and scaled by the blend ratio; the fake
is source x mask + target x (1 - mask), truncated to uint8 as there. Every op runs on the window the mask
covers, with the same values as on the whole image.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from data_modules.blending.config import BlendConfig, SbiRecipe
from data_modules.blending.crop import check_face_input, crop_resized, crop_square, inference_box, scaled_box
from data_modules.blending.draws import Draws
from data_modules.blending.landmarks import flip_landmarks
from data_modules.blending.sample import PseudoFake
from data_modules.blending.sbi_masks import (
    affine_matrix,
    draw_affine,
    draw_edges,
    draw_elastic,
    elastic_bend,
    fill_mask,
    moved_window,
    soften,
    warp_window,
)
from data_modules.blending.sbi_transforms import draw_colour, draw_detail, transform_window
from data_modules.blending.window import Window, bounding_window

DRAWS_PER_SAMPLE = 32  # uniforms one sample uses at most (sbi_transforms and sbi_masks draw functions)


def _draw(rng: np.random.Generator, cfg: BlendConfig, recipe: SbiRecipe) -> dict[str, Any]:
    """Every value of one sample but the elastic noise, in a fixed order."""
    draws = Draws(rng, DRAWS_PER_SAMPLE)
    flip = draws.chance(cfg.hflip_p)
    side = "source" if draws.chance(recipe.source_p) else "target"
    colour, detail = draw_colour(draws, recipe), draw_detail(draws, recipe)
    group = cfg.mask_groups[min(int(np.searchsorted(np.cumsum(cfg.mask_probs), draws.unit(), side="right")),
                                len(cfg.mask_groups) - 1)]
    variant = cfg.global_variants[draws.index(len(cfg.global_variants))]
    return {"flip": flip, "transformed_side": side, "color": colour, "detail": detail, "mask_group": group,
            "mask_variant": variant if group == "global" else "", "affine": draw_affine(draws, recipe, cfg.image_size),
            "elastic_max_noise": draw_elastic(draws, cfg.image_size), **draw_edges(draws, recipe),
            "blend_ratio": cfg.blend_ratios[draws.index(len(cfg.blend_ratios))]}


def _mask(points: np.ndarray, p: dict[str, Any], mask_type: str, affine: np.ndarray, rng: np.random.Generator,
          recipe: SbiRecipe, size: int) -> tuple[np.ndarray, Window]:
    """The float32 size x size blend mask, scaled by the blend ratio, and a window holding its non-zero pixels."""
    hull = fill_mask(points, mask_type, size)
    where = bounding_window(hull)
    if where is None:
        raise ValueError(f"the {mask_type} mask is empty: its landmarks span no pixel of the {size} px crop")
    out = moved_window(where, affine, size)
    moved = warp_window(hull, affine, out, cv2.INTER_NEAREST)
    bent, bent_at = elastic_bend(moved, out, rng, recipe, p["elastic_max_noise"], size)
    whole = np.zeros((size, size), np.float32)
    bent_at.of(whole)[:] = bent
    mask, box = soften(whole, p, size)
    if p["blend_ratio"] != 1.0:
        box.of(mask)[:] *= np.float32(p["blend_ratio"])
    return mask, box


def _source_window(box: Window, affine: np.ndarray, size: int) -> Window:
    """The source pixels a bilinear warp reads to fill `box` of the moved image."""
    xs = (np.array([box.x0, box.x1 - 1]) - affine[0, 2]) / affine[0, 0]
    ys = (np.array([box.y0, box.y1 - 1]) - affine[1, 2]) / affine[1, 1]
    return Window(int(np.floor(xs[0])) - 1, int(np.floor(ys[0])) - 1, int(np.ceil(xs[1])) + 2,
                  int(np.ceil(ys[1])) + 2).grow(0, size, size)


def blend(source: np.ndarray, target: np.ndarray, weight: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """source x weight + target x (1 - weight), truncated to uint8 as the reference's astype does; computed as
    target + weight x (source - target) in float32 where it works in float64 (one level apart where a sum falls
    within ~1e-5 of a whole level; exact where the weight is 0 or 1). Written into `out` when given."""
    diff = cv2.subtract(source, target, dtype=cv2.CV_32F)
    cv2.multiply(diff, cv2.cvtColor(weight, cv2.COLOR_GRAY2RGB), dst=diff)
    cv2.add(diff, target, dst=diff, dtype=cv2.CV_32F)
    if out is None:
        return diff.astype(np.uint8)
    np.copyto(out, diff, casting="unsafe")  # truncates as astype does
    return out


def make_sbi_fake(frame: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, cfg: BlendConfig
                  ) -> PseudoFake:
    """Self-blend one face by the reference's recipe: a pure function of (frame, landmarks, rng state, cfg)."""
    check_face_input(frame, landmarks)
    recipe, size = cfg.recipe, cfg.image_size
    if not isinstance(recipe, SbiRecipe):
        raise TypeError(f"make_sbi_fake needs a config of recipe sbi, got {type(recipe).__name__}")
    points = landmarks.astype(np.float32, copy=False)
    if cfg.inference_crop:
        crop = inference_box(points)
        image, points = crop_square(frame, points, crop, size)
    else:
        crop = scaled_box(landmarks, frame.shape, recipe.crop_scale)
        image, points = crop_resized(frame, points, crop, size)
    p = _draw(rng, cfg, recipe)
    if p["flip"]:
        image, points = cv2.flip(image, 1), flip_landmarks(points, size)
    mask_type = f"global_{p['mask_variant']}" if p["mask_group"] == "global" else p["mask_group"]
    affine = affine_matrix(p["affine"], size)
    mask, box = _mask(points, p, mask_type, affine, rng, recipe, size)
    whole = Window(0, 0, size, size)
    real = transform_window(image, whole, p["color"], p["detail"]) if p["transformed_side"] == "target" else image
    read = _source_window(box, affine, size)
    source = transform_window(image, read, p["color"], p["detail"]) if p["transformed_side"] == "source" \
        else read.of(image)
    local = affine.copy()
    local[:, 2] += affine[:, :2] @ (read.x0, read.y0)
    # OpenCV warps 4-channel images in vector code, 3-channel ones in scalar code, to the same values
    moved = warp_window(cv2.cvtColor(source, cv2.COLOR_RGB2RGBA), local, box, cv2.INTER_LINEAR)
    fake = real.copy()
    blend(cv2.cvtColor(moved, cv2.COLOR_RGBA2RGB), box.of(real), box.of(mask), out=box.of(fake))
    params = {"recipe": "sbi", "crop_box": list(crop), **p, "resamples": 0,
              "mask_box": [box.x0, box.y0, box.x1, box.y1]}
    return PseudoFake(real=real, fake=fake, mask=mask, mask_type=mask_type, params=params, landmarks=points)
