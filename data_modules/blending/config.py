"""BlendConfig: the `blend` config group, validated and frozen once, read by make_pseudo_fake on every call.

Two recipes: `sbi` is the DiffFake reference's (experiments/blend/sbi.yaml), `strong` our stronger one
(experiments/blend/strong.yaml). Settings shared by both sit on BlendConfig; the rest on the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

MASK_GROUPS = ("global", "eyes", "mouth", "lower_face")
REFERENCE_SIZE = 256  # strong: blur kernels are given in pixels at this output size and scaled to image_size
GLOBAL_VARIANTS = ("all", "dfl", "components", "extended")
SHARED_KEYS = frozenset({"recipe", "mask_weights", "global_variants", "blend_ratios", "hflip_p"})


def _pair(value: Any, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"blend.{name} must be [low, high] with low <= high, got {[lo, hi]}")
    return lo, hi


def _int_pair(value: Any, name: str, low: int, high: int) -> tuple[int, int]:
    lo, hi = (int(v) for v in _pair(value, name))
    if lo < low or hi > high:
        raise ValueError(f"blend.{name} must lie in [{low}, {high}], got {[lo, hi]}")
    return lo, hi


def _prob(value: Any, name: str) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"blend.{name} must be a probability in [0, 1], got {p}")
    return p


@dataclass(frozen=True)
class StrongRecipe:
    """Our stronger self-blend: sizes in output pixels, blur kernels in pixels at REFERENCE_SIZE."""

    color_p: float
    sharpness_p: float
    translate: float
    scale: tuple[float, float]
    elastic_alpha: float
    elastic_sigma: float
    blur_kernels: tuple[tuple[int, int], tuple[int, int]]
    crop_margin: tuple[float, float]
    jpeg_p: float
    jpeg_quality: tuple[int, int]
    downscale_p: float
    downscale_scale: tuple[float, float]
    max_resample: int = 8

    KEYS: ClassVar[frozenset[str]] = frozenset({"color_p", "sharpness_p", "affine", "elastic", "blur_kernels", "crop_margin", "jpeg",
                      "downscale"})

    @classmethod
    def from_cfg(cls, node: Mapping[str, Any]) -> StrongRecipe:
        kernels = tuple(_int_pair(p, "blur_kernels", 1, 10_000) for p in node["blur_kernels"])
        if len(kernels) != 2:
            raise ValueError(f"blend.blur_kernels must be two [min, max] kernel ranges >= 1, got {kernels}")
        jpeg, down, affine, elastic = (node[k] for k in ("jpeg", "downscale", "affine", "elastic"))
        down_scale = _pair(down["scale"], "downscale.scale")
        if not 0 < down_scale[0] <= down_scale[1] < 1:
            raise ValueError(f"blend.downscale.scale must lie in (0, 1), got {list(down_scale)}")
        return cls(
            color_p=_prob(node["color_p"], "color_p"),
            sharpness_p=_prob(node["sharpness_p"], "sharpness_p"),
            translate=float(affine["translate"]),
            scale=_pair(affine["scale"], "affine.scale"),
            elastic_alpha=float(elastic["alpha"]),
            elastic_sigma=float(elastic["sigma"]),
            blur_kernels=kernels,  # type: ignore[arg-type]
            crop_margin=_pair(node["crop_margin"], "crop_margin"),
            jpeg_p=_prob(jpeg["p"], "jpeg.p"),
            jpeg_quality=_int_pair(jpeg["quality"], "jpeg.quality", 1, 100),
            downscale_p=_prob(down["p"], "downscale.p"),
            downscale_scale=down_scale,
        )


@dataclass(frozen=True)
class SbiRecipe:
    """The reference's recipe: sizes in pixels of the crop resized to the output size."""

    crop_scale: float
    source_p: float
    rgb_shift: float
    rgb_shift_p: float
    hsv_shift: tuple[float, float, float]
    brightness: float
    contrast: float
    downscale_p: float
    downscale_factors: tuple[int, ...]
    sharpen_alpha: tuple[float, float]
    sharpen_lightness: tuple[float, float]
    translate: tuple[float, float]
    scale: tuple[float, float]
    elastic_alpha: float
    elastic_sigma: float
    mask_size: tuple[int, int]
    blur_kernels: tuple[tuple[int, int], tuple[int, int]]
    blur_sigma: tuple[int, int]

    KEYS: ClassVar[frozenset[str]] = frozenset({"crop_scale", "source_p", "color", "detail", "affine", "elastic", "mask_size",
                      "blur_kernels", "blur_sigma"})

    @classmethod
    def from_cfg(cls, node: Mapping[str, Any]) -> SbiRecipe:
        colour, detail, affine, elastic = (node[k] for k in ("color", "detail", "affine", "elastic"))
        kernels = tuple(_int_pair(p, "blur_kernels", 1, 255) for p in node["blur_kernels"])
        if len(kernels) != 2 or any(k % 2 == 0 for pair in kernels for k in pair):
            raise ValueError(f"blend.blur_kernels must be two [min, max] ranges of odd kernel sizes, got {kernels}")
        factors = tuple(int(f) for f in detail["downscale_factors"])
        if not factors or min(factors) < 1:
            raise ValueError(f"blend.detail.downscale_factors must be integers >= 1, got {list(factors)}")
        hsv = tuple(float(v) for v in colour["hsv_shift"])
        if len(hsv) != 3:
            raise ValueError(f"blend.color.hsv_shift must be [hue, saturation, value] limits, got {list(hsv)}")
        translate = tuple(float(v) for v in affine["translate"])
        if len(translate) != 2:
            raise ValueError(f"blend.affine.translate must be [x, y] fractions, got {list(translate)}")
        return cls(
            crop_scale=float(node["crop_scale"]),
            source_p=_prob(node["source_p"], "source_p"),
            rgb_shift=float(colour["rgb_shift"]),
            rgb_shift_p=_prob(colour["rgb_shift_p"], "color.rgb_shift_p"),
            hsv_shift=hsv,  # type: ignore[arg-type]
            brightness=float(colour["brightness"]),
            contrast=float(colour["contrast"]),
            downscale_p=_prob(detail["downscale_p"], "detail.downscale_p"),
            downscale_factors=factors,
            sharpen_alpha=_pair(detail["sharpen_alpha"], "detail.sharpen_alpha"),
            sharpen_lightness=_pair(detail["sharpen_lightness"], "detail.sharpen_lightness"),
            translate=translate,  # type: ignore[arg-type]
            scale=_pair(affine["scale"], "affine.scale"),
            elastic_alpha=float(elastic["alpha"]),
            elastic_sigma=float(elastic["sigma"]),
            mask_size=_int_pair(node["mask_size"], "mask_size", 8, 4096),
            blur_kernels=kernels,  # type: ignore[arg-type]
            blur_sigma=_int_pair(node["blur_sigma"], "blur_sigma", 1, 1000),
        )


RECIPES: dict[str, type[StrongRecipe] | type[SbiRecipe]] = {"sbi": SbiRecipe, "strong": StrongRecipe}


@dataclass(frozen=True)
class BlendConfig:
    """Every knob of the generator: the settings both recipes share, and the recipe's own."""

    image_size: int
    mask_groups: tuple[str, ...]
    mask_probs: tuple[float, ...]
    global_variants: tuple[str, ...]
    blend_ratios: tuple[float, ...]
    hflip_p: float
    recipe: StrongRecipe | SbiRecipe
    # True: blend on exactly the inference crop (crop_face) instead of the recipe's own crop; the
    # calibration fakes of stage 2 (data_modules/crops.py), so that they differ from test frames only by the blend
    inference_crop: bool = False

    @classmethod
    def from_cfg(cls, blend_cfg: Mapping[str, Any], image_size: int) -> BlendConfig:
        """Validate the `blend` group (experiments/blend/sbi.yaml or strong.yaml) for output size `image_size`."""
        name = str(blend_cfg.get("recipe", ""))
        if name not in RECIPES:
            raise ValueError(f"blend.recipe must be one of {sorted(RECIPES)}, got '{name}'")
        recipe_type = RECIPES[name]
        unknown = set(blend_cfg) - SHARED_KEYS - recipe_type.KEYS
        if unknown:
            raise ValueError(f"blend.{sorted(unknown)[0]} is not a setting of recipe '{name}'; its settings are "
                             f"{sorted(SHARED_KEYS | recipe_type.KEYS)}")
        weights = {str(k): float(v) for k, v in blend_cfg["mask_weights"].items()}
        if set(weights) - set(MASK_GROUPS) or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
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
        if int(image_size) < 32:
            raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
        return cls(
            image_size=int(image_size),
            mask_groups=groups,
            mask_probs=tuple(weights[g] / total for g in groups),
            global_variants=variants,
            blend_ratios=ratios,
            hflip_p=_prob(blend_cfg["hflip_p"], "hflip_p"),
            recipe=recipe_type.from_cfg(blend_cfg),
        )
