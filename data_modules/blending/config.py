"""BlendConfig: the `blend` config group, validated and frozen once, read by make_pseudo_fake on every call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MASK_GROUPS = ("global", "eyes", "mouth", "lower_face")
REFERENCE_SIZE = 256  # blur kernels are given in pixels at this output size and scaled to image_size
GLOBAL_VARIANTS = ("all", "dfl", "components", "extended")


def _pair(value: Any, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"blend.{name} must be [low, high] with low <= high, got {[lo, hi]}")
    return lo, hi


def _prob(value: Any, name: str) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"blend.{name} must be a probability in [0, 1], got {p}")
    return p


@dataclass(frozen=True)
class BlendConfig:
    """Every knob of the generator; sizes in output pixels (image_size S)."""

    image_size: int
    mask_groups: tuple[str, ...]
    mask_probs: tuple[float, ...]
    global_variants: tuple[str, ...]
    blend_ratios: tuple[float, ...]
    color_p: float
    sharpness_p: float
    translate: float
    scale: tuple[float, float]
    elastic_alpha: float
    elastic_sigma: float
    blur_kernels: tuple[tuple[int, int], tuple[int, int]]
    crop_margin: tuple[float, float]
    hflip_p: float
    jpeg_p: float
    jpeg_quality: tuple[int, int]
    downscale_p: float
    downscale_scale: tuple[float, float]
    max_resample: int = 8

    @classmethod
    def from_cfg(cls, blend_cfg: Mapping[str, Any], image_size: int) -> BlendConfig:
        """Validate the `blend` group (see experiments/blend/sbi.yaml) for output size `image_size`."""
        weights = {str(k): float(v) for k, v in blend_cfg["mask_weights"].items()}
        unknown = set(weights) - set(MASK_GROUPS)
        if unknown or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"blend.mask_weights must map {list(MASK_GROUPS)} to non-negative weights with a "
                             f"positive sum, got {weights}")
        groups = tuple(g for g in MASK_GROUPS if weights.get(g, 0.0) > 0)
        total = sum(weights[g] for g in groups)
        variants = tuple(str(v) for v in blend_cfg["global_variants"])
        if not variants or set(variants) - set(GLOBAL_VARIANTS):
            raise ValueError(f"blend.global_variants must be a non-empty subset of {list(GLOBAL_VARIANTS)}, "
                             f"got {list(variants)}")
        ratios = tuple(float(r) for r in blend_cfg["blend_ratios"])
        if not ratios or any(not 0.0 < r <= 1.0 for r in ratios):
            raise ValueError(f"blend.blend_ratios must be values in (0, 1], got {list(ratios)}")
        kernels = tuple(tuple(int(k) for k in _pair(p, "blur_kernels")) for p in blend_cfg["blur_kernels"])
        if len(kernels) != 2 or any(k[0] < 1 for k in kernels):
            raise ValueError(f"blend.blur_kernels must be two [min, max] kernel ranges >= 1, got {kernels}")
        if int(image_size) < 32:
            raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
        jpeg, down, affine, elastic = (blend_cfg[k] for k in ("jpeg", "downscale", "affine", "elastic"))
        quality = tuple(int(q) for q in _pair(jpeg["quality"], "jpeg.quality"))
        if quality[0] < 1 or quality[1] > 100:
            raise ValueError(f"blend.jpeg.quality must lie in [1, 100], got {list(quality)}")
        down_scale = _pair(down["scale"], "downscale.scale")
        if not 0 < down_scale[0] <= down_scale[1] < 1:
            raise ValueError(f"blend.downscale.scale must lie in (0, 1), got {list(down_scale)}")
        return cls(
            image_size=int(image_size),
            mask_groups=groups,
            mask_probs=tuple(weights[g] / total for g in groups),
            global_variants=variants,
            blend_ratios=ratios,
            color_p=_prob(blend_cfg["color_p"], "color_p"),
            sharpness_p=_prob(blend_cfg["sharpness_p"], "sharpness_p"),
            translate=float(affine["translate"]),
            scale=_pair(affine["scale"], "affine.scale"),
            elastic_alpha=float(elastic["alpha"]),
            elastic_sigma=float(elastic["sigma"]),
            blur_kernels=kernels,  # type: ignore[arg-type]
            crop_margin=_pair(blend_cfg["crop_margin"], "crop_margin"),
            hflip_p=_prob(blend_cfg["hflip_p"], "hflip_p"),
            jpeg_p=_prob(jpeg["p"], "jpeg.p"),
            jpeg_quality=quality,  # type: ignore[arg-type]
            downscale_p=_prob(down["p"], "downscale.p"),
            downscale_scale=down_scale,
        )
