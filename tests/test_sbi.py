"""The paper's pseudo-fake recipe (blend=sbi) against the DiffFake reference: drawn parameters, each op against
the albumentations / OpenCV op the reference calls, and (with DIFFFAKE_REFERENCE=<checkout>) against the
reference's own mask, crop and blur functions."""

from __future__ import annotations

import importlib
import logging
import os
import random
import sys
from collections import Counter
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
from albumentations.augmentations.geometric import functional as fgeometric

import data_modules.blending.sbi_masks as sbi_masks
import data_modules.blending.sbi_transforms as sbi_transforms
from data_modules.blending import make_pseudo_fake
from data_modules.blending.crop import face_box, scaled_box, square_box
from data_modules.blending.draws import Draws
from data_modules.blending.sbi import blend
from data_modules.blending.window import Window, bounding_window
from tests.blend_configs import blend_cfg
from tests.fixtures_faces import astronaut_face

SIZE = 128
DRAWN = 2000


def sample(seed: int, cfg, frame: np.ndarray | None = None):
    image, points = astronaut_face()
    return make_pseudo_fake(image if frame is None else frame, points, np.random.default_rng(seed), cfg)


@pytest.fixture(scope="module")
def drawn() -> list[dict]:
    """The params of DRAWN blend=sbi samples at SIZE px."""
    cfg = blend_cfg("sbi", SIZE)
    return [sample(seed, cfg).params for seed in range(DRAWN)]


def rate(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags)


def test_drawn_colour_and_detail_follow_the_reference(drawn):
    colour = [p["color"] for p in drawn]
    assert 0.26 < rate(c["rgb"] is not None for c in colour) < 0.34  # RGBShift p=0.3 (binomial sd 0.01)
    shifts = [s for c in colour if c["rgb"] is not None for s in c["rgb"]]
    assert all(isinstance(s, int) and -19 <= s <= 19 for s in shifts)  # uniform(-20, 20) truncated
    assert min(shifts) <= -17 and max(shifts) >= 17
    hsv = np.array([c["hsv"] for c in colour])
    assert np.abs(hsv).max() < 0.3 and np.abs(hsv).max(0).min() > 0.29
    assert all(0.9 <= c["contrast"] < 1.1 and -25.5 <= c["brightness"] < 25.5 for c in colour)
    detail = [p["detail"] for p in drawn]
    assert 0.45 < rate(d["kind"] == "downscale" for d in detail) < 0.55  # OneOf of two, always one
    factors = Counter(d["factor"] for d in detail if d["kind"] == "downscale")
    assert set(factors) == {2, 4} and abs(factors[2] - factors[4]) < 0.15 * sum(factors.values())
    sharpen = np.array([(d["alpha"], d["lightness"]) for d in detail if d["kind"] == "sharpen"])
    assert sharpen[:, 0].min() >= 0.2 and sharpen[:, 0].max() < 0.5 and np.ptp(sharpen[:, 0]) > 0.28
    assert sharpen[:, 1].min() >= 0.5 and sharpen[:, 1].max() < 1.0 and np.ptp(sharpen[:, 1]) > 0.48
    assert 0.45 < rate(p["transformed_side"] == "source" for p in drawn) < 0.55


def test_drawn_mask_edges_follow_the_reference(drawn):
    first, second = zip(*(p["blur_kernels"] for p in drawn), strict=True)
    odd = set(range(5, 26, 2))
    assert set(first) == odd and set(second) == odd  # odd sizes 5..25, every one drawn
    assert {p["blur_sigma"] for p in drawn} == set(range(5, 46))  # integer sigma 5..45
    sizes = np.array([p["mask_size"] for p in drawn])
    assert sizes.min() == 192 and sizes.max() == 256 and sizes.dtype.kind == "i"
    assert abs(np.corrcoef(sizes.T)[0, 1]) < 0.1  # width and height drawn apart
    noise = np.array([p["elastic_max_noise"] for p in drawn])
    assert 3.0 < noise.min() and noise.max() < 7.0 and 4.0 < np.median(noise) < 4.4  # max |N(0,1)| of 2 x 128^2


def test_drawn_masks_moves_and_ratios_follow_the_reference(drawn):
    groups = Counter(p["mask_group"] for p in drawn)
    assert 0.46 < groups["global"] / DRAWN < 0.54  # choice([0,0,0,1,2,3])
    assert all(0.13 < groups[g] / DRAWN < 0.20 for g in ("eyes", "mouth", "lower_face"))
    variants = Counter(p["mask_variant"] for p in drawn if p["mask_group"] == "global")
    assert set(variants) == {"dfl", "extended", "components", "all"}
    assert all(0.2 < n / groups["global"] < 0.3 for n in variants.values())
    ratios = Counter(p["blend_ratio"] for p in drawn)
    assert set(ratios) == {0.25, 0.5, 0.75, 1.0} and 0.45 < ratios[1.0] / DRAWN < 0.55
    scale = np.array([p["affine"]["scale"] for p in drawn])
    assert scale.min() >= 0.95 and scale.max() < 1 / 0.95 and abs(np.corrcoef(scale.T)[0, 1]) < 0.1
    shift = np.array([p["affine"]["translate"] for p in drawn])
    assert set(shift[:, 0]) == set(range(-3, 4)) and set(shift[:, 1]) == {-1, 0, 1}  # int(u * 128)
    assert not any(p["flip"] for p in drawn) and all(p["resamples"] == 0 for p in drawn)


def test_samples_are_valid_reproducible_and_fake_equals_real_outside_the_mask():
    cfg = blend_cfg("sbi", 96)
    kinds = set()
    for seed in range(60):
        s = sample(seed, cfg)
        kinds.add(s.mask_type)
        assert s.real.shape == s.fake.shape == (96, 96, 3) and s.mask.shape == (96, 96)
        assert s.mask.dtype == np.float32 and 0.0 <= s.mask.min() and s.mask.max() <= s.params["blend_ratio"] + 1e-6
        assert s.mask.max() > 0.9 * s.params["blend_ratio"]
        outside = s.mask == 0
        np.testing.assert_array_equal(s.fake[outside], s.real[outside])
        assert (s.fake[~outside] != s.real[~outside]).any()
        x0, y0, x1, y1 = s.params["mask_box"]
        assert not np.delete(np.delete(s.mask, np.s_[y0:y1], 0), np.s_[x0:x1], 1).any()
        again = sample(seed, cfg)
        assert again.fake.tobytes() == s.fake.tobytes() and again.params == s.params
    assert kinds == {"global_all", "global_dfl", "global_components", "global_extended", "eyes", "mouth",
                     "lower_face"}
    assert sample(1, cfg).fake.tobytes() != sample(2, cfg).fake.tobytes()


def test_flip_mirrors_the_crop_and_its_landmarks():
    plain, flipped = (blend_cfg("sbi", 96, hflip_p=p, source_p=1.0) for p in (0.0, 1.0))
    for seed in range(5):
        a, b = sample(seed, plain), sample(seed, flipped)
        assert b.params["flip"] and not a.params["flip"]
        np.testing.assert_array_equal(b.real, cv2.flip(a.real, 1))  # the source is altered: real is the crop
        np.testing.assert_allclose(b.landmarks[36:42, 0].mean(), 95 - a.landmarks[42:48, 0].mean(), atol=1e-3)


def colour_by_albumentations(image: np.ndarray, p: dict) -> np.ndarray:
    """The reference's colour Compose with the given parameters, through albumentations' own apply."""
    out = image
    if p["rgb"] is not None:  # albumentations truncates its float draw; an integer draw is the same shift
        out = A.RGBShift(p=1.0).apply(out, noise_map=np.asarray(p["rgb"], np.float64))
    out = A.HueSaturationValue(p=1.0).apply(out, hue_shift=p["hsv"][0], sat_shift=p["hsv"][1],
                                            val_shift=p["hsv"][2])
    return A.RandomBrightnessContrast(p=1.0).apply(out, alpha=p["contrast"], beta=p["brightness"])


def test_colour_and_sharpen_are_albumentations_byte_for_byte():
    recipe = blend_cfg("sbi", 256).recipe
    face = cv2.resize(astronaut_face()[0][40:296, 150:406], (256, 256))  # rows of whole vector blocks
    for seed in range(40):
        draws = Draws(np.random.default_rng(seed), 16)
        p = sbi_transforms.draw_colour(draws, recipe)
        p["rgb"] = p["rgb"] or [int(v) for v in np.random.default_rng(seed).integers(-19, 20, 3)]
        coloured = sbi_transforms.apply_colour(face, p)
        np.testing.assert_array_equal(coloured, colour_by_albumentations(face, p))
        alpha, lightness = draws.uniform(0.2, 0.5), draws.uniform(0.5, 1.0)
        kernel = (1 - alpha) * np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32) + alpha * np.array(
            [[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]], np.float32)
        np.testing.assert_array_equal(sbi_transforms.sharpen(coloured, alpha, lightness),
                                      A.Sharpen(p=1.0).apply(coloured, alpha=alpha, sharpening_matrix=kernel))
    # at other widths OpenCV's own HSV -> RGB rounds the last W % block columns of a row apart (one level)
    wide = cv2.resize(face, (300, 256))
    apart = (sbi_transforms.apply_colour(wide, p) != colour_by_albumentations(wide, p)).any(2)
    assert not apart[:, :300 - 300 % sbi_transforms.vector_width()].any()


@pytest.mark.parametrize("size", [128, 126])  # 126: the downscale factors do not divide it
def test_windows_give_the_whole_image_values(size):
    recipe = blend_cfg("sbi", size).recipe
    face = cv2.resize(astronaut_face()[0][40:296, 150:406], (size, size))
    rng = np.random.default_rng(size)
    for trial in range(40):
        draws = Draws(rng, 16)
        colour = sbi_transforms.draw_colour(draws, recipe)
        detail = ({"kind": "downscale", "factor": (2, 4)[trial % 2]} if trial % 3 else
                  {"kind": "sharpen", "alpha": 0.4, "lightness": 0.7})
        whole = sbi_transforms.transform_window(face, Window(0, 0, size, size), colour, detail)
        x0, y0 = (int(v) for v in rng.integers(0, size - 2, 2))
        window = Window(x0, y0, int(rng.integers(x0 + 1, size + 1)), int(rng.integers(y0 + 1, size + 1)))
        np.testing.assert_array_equal(sbi_transforms.transform_window(face, window, colour, detail),
                                      window.of(whole))


def test_downscaled_sources_show_nearest_neighbour_blocks():
    """With the move held still and the source altered, the fake under a full-weight mask is the source: the
    coloured crop sampled every r-th pixel (nearest neighbour from pixel 0) and bilinearly enlarged back."""
    frame, points = astronaut_face()
    textured = np.clip(frame + np.random.default_rng(0).integers(-40, 41, frame.shape), 0, 255).astype(np.uint8)
    cfg = blend_cfg("sbi", SIZE, source_p=1.0, affine={"translate": [0.0, 0.0], "scale": [1.0, 1.0]},
                    blend_ratios=[1.0], detail={"downscale_p": 1.0})
    seen = set()
    for seed in range(12):
        s = sample(seed, cfg, textured)
        factor = s.params["detail"]["factor"]
        seen.add(factor)
        full = s.mask == 1.0
        source = cv2.resize(colour_by_albumentations(s.real, s.params["color"])[::factor, ::factor],
                            (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(s.fake[full], source[full])
        # the blocks: along a row, the pixels of an r-block lie on one straight line between two kept samples,
        # so at the kept samples' phase a residual of the line vanishes and half a block away it does not
        on, off = (block_residual(s.fake, full, factor, phase) for phase in (0, factor // 2))
        assert on < 0.2 * off, (seed, factor, on, off)  # on: uint8 rounding only
    assert seen == {2, 4}


def block_residual(image: np.ndarray, where: np.ndarray, factor: int, phase: int) -> float:
    """Mean |residual| of a bilinear x`factor` enlargement along rows at columns x = phase (mod factor), where
    all its taps lie in `where`: for x2, 3y[x] - y[x-1] - 3y[x+1] + y[x+2] (both pixel pairs give the same
    kept sample); for x4, the second difference y[x-1] - 2y[x] + y[x+1] one pixel either side of a block's
    centre (x = phase + 3, phase + 4)."""
    y = image.astype(np.float64).sum(2)
    if factor == 2:
        taps, weights, centres = (-1, 0, 1, 2), (-1, 3, -3, 1), (phase,)
    else:
        taps, weights, centres = (-1, 0, 1), (1, -2, 1), (phase + 3, phase + 4)
    values = []
    for x in range(1, image.shape[1] - 2):
        if x % factor in {c % factor for c in centres}:
            rows = np.logical_and.reduce([where[:, x + t] for t in taps])
            values.append(np.abs(sum(w * y[rows, x + t] for t, w in zip(taps, weights, strict=True))))
    return float(np.concatenate(values).mean())


def test_move_is_albumentations_affine():
    recipe = blend_cfg("sbi", 200).recipe
    face = cv2.resize(astronaut_face()[0], (200, 200))
    aff = A.Affine(translate_percent={"x": (-0.03, 0.03), "y": (-0.015, 0.015)}, scale=[0.95, 1 / 0.95], p=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = sbi_masks.draw_affine(Draws(rng, 4), recipe, 200)
        matrix = fgeometric.create_affine_transformation_matrix(
            {"x": p["translate"][0], "y": p["translate"][1]}, {"x": 0.0, "y": 0.0},
            {"x": p["scale"][0], "y": p["scale"][1]}, 0.0, fgeometric.center((200, 200)))
        ours = sbi_masks.affine_matrix(p, 200)
        np.testing.assert_allclose(ours, matrix[:2], atol=1e-12)
        whole = aff.apply(face, matrix=matrix, output_shape=(200, 200))
        window = Window(30, 40, 170, 190)
        moved = sbi_masks.warp_window(cv2.cvtColor(face, cv2.COLOR_RGB2RGBA), ours, window, cv2.INTER_LINEAR)
        off = np.abs(moved[..., :3].astype(int) - window.of(whole))
        assert off.max() <= 1 and (off > 0).mean() < 1e-3  # float rounding of the shifted window's map
        hull = sbi_masks.fill_mask(astronaut_face()[1] * 200 / 512, "global_all", 200)
        out = sbi_masks.moved_window(bounding_window(hull), ours, 200)
        exact = aff.apply_to_mask(hull, matrix=matrix, output_shape=(200, 200))
        np.testing.assert_array_equal(sbi_masks.warp_window(hull, ours, out, cv2.INTER_NEAREST), out.of(exact))
        assert exact.sum() == out.of(exact).sum()


def test_soften_is_blur_mask_on_the_whole_image():
    rng = np.random.default_rng(3)
    for _ in range(30):
        mask = np.zeros((200, 200), np.float32)
        cv2.ellipse(mask, (int(rng.integers(60, 140)), 100), (int(rng.integers(10, 70)), 50), 30.0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (3, 3), 0.8)  # soft edges as after the elastic bend
        width, height = (int(v) for v in rng.integers(192, 257, 2))
        k1, k2 = (int(k) for k in 5 + 2 * rng.integers(0, 11, 2))
        sigma = int(rng.integers(5, 46))
        soft, box = sbi_masks.soften(mask, {"mask_size": [width, height], "blur_kernels": [k1, k2],
                                            "blur_sigma": sigma}, 200)
        small = cv2.resize(mask, (width, height))
        first = cv2.GaussianBlur(small, (k1, k1), 0)
        first = first / first.max()
        first[first < 1] = 0
        second = cv2.GaussianBlur(first, (k2, k2), sigma)
        expected = cv2.resize(second / second.max(), (200, 200))
        np.testing.assert_allclose(soft, expected, atol=1e-6)  # OpenCV's vector/scalar float rounding
        support = bounding_window(expected)
        assert box.x0 <= support.x0 and box.y0 <= support.y0 and box.x1 >= support.x1 and box.y1 >= support.y1


def albumentations_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """ElasticTransform's per-pixel field for alpha 1 before its max normalisation: 17 x 17 blur of N(0,1)."""
    return cv2.GaussianBlur(rng.standard_normal((2, *shape), dtype=np.float32).reshape(-1, shape[1]), (17, 17), 7,
                            borderType=cv2.BORDER_REPLICATE).reshape(2, *shape)


def test_elastic_field_has_the_per_pixel_fields_statistics():
    rng = np.random.default_rng(0)
    shape = (240, 240)
    exact = np.concatenate([albumentations_field(shape, rng)[:, 20:-20, 20:-20] for _ in range(6)], 1)
    ys, xs = np.mgrid[20:220, 20:220]
    points = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.int32)
    ours = np.concatenate([sbi_masks.elastic_field(rng, shape, points, 7.0).T.reshape(2, 200, 200)
                           for _ in range(6)], 1)
    assert ours.std() == pytest.approx(exact.std(), rel=0.05)
    by_phase = ours[:, :, :].reshape(2, -1, 50, 4).std((0, 1, 2))  # across a lattice cell
    assert by_phase.min() > 0.95 * by_phase.max()
    for lag in (1, 4, 8, 12):
        corr = [np.corrcoef(f[:, :-lag].ravel(), f[:, lag:].ravel())[0, 1] for f in (ours[0], exact[0])]
        assert corr[0] == pytest.approx(corr[1], abs=0.05), lag
    # the normalising maximum is drawn from the distribution of max |N(0,1)| over 2 x size^2 draws
    drawn = [sbi_masks.draw_elastic(Draws(rng, 1), 16) for _ in range(4000)]
    real = np.abs(rng.standard_normal((4000, 2 * 16 * 16))).max(1)
    assert np.quantile(drawn, [0.1, 0.5, 0.9]) == pytest.approx(np.quantile(real, [0.1, 0.5, 0.9]), rel=0.02)


def test_elastic_bend_changes_only_the_edge_and_only_within_its_reach():
    hull = np.zeros((150, 150), np.uint8)
    cv2.circle(hull, (75, 75), 50, 1, -1)
    recipe = blend_cfg("sbi", 200).recipe
    bent, at = sbi_masks.elastic_bend(hull, Window(25, 25, 175, 175), np.random.default_rng(0), recipe, 4.5, 200)
    assert at == Window(25 - sbi_masks.BAND - 1, 25 - sbi_masks.BAND - 1, 175 + sbi_masks.BAND + 1,
                        175 + sbi_masks.BAND + 1)
    inside = Window(25, 25, 175, 175).inside(at)
    changed = inside.of(bent) != hull
    assert changed.any() and bent.min() >= 0 and bent.max() <= 1
    distance = np.hypot(*(np.nonzero(changed) - np.array([[75], [75]])))
    assert np.abs(distance - 50).max() <= sbi_masks.MAX_SHIFT + 1.5


def test_blend_truncates_like_the_reference():
    rng = np.random.default_rng(0)
    source, target = (rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2))
    weight = rng.random((64, 64), dtype=np.float32)
    weight[:8] = 0.0
    weight[8:16] = 1.0
    out = blend(source, target, weight)
    w = weight.astype(np.float64)[..., None]
    exact = (source * w + target * (1 - w)).astype(np.uint8)  # the reference's float64 formula and astype
    assert (out != exact).mean() < 1e-3 and np.abs(out.astype(int) - exact).max() <= 1
    np.testing.assert_array_equal(out[:8], target[:8])
    np.testing.assert_array_equal(out[8:16], source[8:16])
    assert blend(np.full((1, 1, 3), 10, np.uint8), np.full((1, 1, 3), 11, np.uint8),
                 np.full((1, 1), 0.5, np.float32))[0, 0, 0] == 10  # 10.5 truncates


def test_mask_regions_hold_the_reference_landmarks():
    _, points = astronaut_face()
    for kind, held in [("eyes", [*range(17, 27), *range(36, 48), 0, 1, 14, 15]),
                       ("mouth", [*range(48, 68), *range(4, 13), *range(31, 36)]),
                       ("lower_face", [*range(1, 16), 29, 30]), ("global_all", range(68))]:
        mask = sbi_masks.fill_mask(points, kind, 512)
        xs, ys = points[held].astype(int).T
        assert mask[ys, xs].all(), kind
    eyes, mouth = (sbi_masks.fill_mask(points, k, 512) for k in ("eyes", "mouth"))
    assert not eyes[tuple(points[62].astype(int)[::-1])] and not mouth[tuple(points[37].astype(int)[::-1])]
    extended, components = (sbi_masks.fill_mask(points, k, 512) for k in ("global_extended", "global_components"))
    assert np.nonzero(extended.any(1))[0][0] < np.nonzero(components.any(1))[0][0] - 5  # brows raised


def test_configs_name_the_recipe_and_refuse_the_other_recipes_settings():
    with pytest.raises(ValueError, match="blend.color_p is not a setting of recipe 'sbi'"):
        blend_cfg("sbi", SIZE, color_p=0.5)
    with pytest.raises(ValueError, match="blend.recipe must be one of"):
        blend_cfg("sbi", SIZE, recipe="sbi2")
    with pytest.raises(ValueError, match="odd kernel sizes"):
        blend_cfg("sbi", SIZE, blur_kernels=[[4, 24], [5, 25]])
    assert blend_cfg("global_only", SIZE).mask_groups == ("global",)
    assert blend_cfg("local_only", SIZE).mask_probs == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert type(blend_cfg("robust", SIZE).recipe).__name__ == "StrongRecipe"


REFERENCE = os.environ.get("DIFFFAKE_REFERENCE")


@pytest.mark.skipif(not REFERENCE, reason="set DIFFFAKE_REFERENCE to a checkout of github.com/sotossta/DiffFake")
def test_against_the_reference_checkout(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(REFERENCE)))
    logging.getLogger("utils").setLevel(logging.WARNING)
    loaded = set(sys.modules)
    try:
        reference_masks = importlib.import_module("utils.DeepFakeMask")  # the reference's own module layout
        reference_funcs = importlib.import_module("utils.funcs")
    finally:
        for name in set(sys.modules) - loaded:  # its top-level `utils` must not outlive this test
            if name.split(".")[0] == "utils":
                del sys.modules[name]

    frame, points = astronaut_face()
    left, top, side = square_box(*face_box(points))
    crop, moved = reference_funcs.crop_image((left, top, side, side), frame, points)
    x0, y0, x1, y1 = scaled_box(points, frame.shape, 1.3)
    np.testing.assert_array_equal(crop, frame[y0:y1, x0:x1])
    np.testing.assert_allclose(moved, points - (x0, y0))
    for name, kind in [("dfl_full", "global_dfl"), ("extended", "global_extended"),
                       ("components", "global_components"), ("facehull", "global_all")]:
        reference = getattr(reference_masks, name)(landmarks=moved.astype("int32"), face=crop, channels=3).mask
        np.testing.assert_array_equal(reference[:, :, 0] / 255, sbi_masks.fill_mask(moved, kind, crop.shape[0]))
    hull = sbi_masks.fill_mask(moved, "global_dfl", crop.shape[0]).astype(np.float32)
    for seed in range(5):
        np.random.seed(seed)
        random.seed(seed)
        height, width = np.random.randint(192, 257), np.random.randint(192, 257)
        edges = {"mask_size": [width, height], "blur_kernels": [random.randrange(5, 26, 2), random.randrange(5, 26, 2)],
                 "blur_sigma": np.random.randint(5, 46)}
        np.random.seed(seed)
        random.seed(seed)
        np.testing.assert_allclose(sbi_masks.soften(hull, edges, crop.shape[0])[0], reference_funcs.blur_mask(hull)[:, :, 0], atol=1e-6)


def test_elastic_bend_reach_leaves_out_only_pixels_that_read_back_unchanged(monkeypatch):
    """Remapping only the pixels within the drawn field's reach of the edge gives the bend of the full band."""
    hull = np.zeros((150, 150), np.uint8)
    cv2.ellipse(hull, (75, 75), (50, 35), 20.0, 0, 360, 1, -1)
    recipe = blend_cfg("sbi", 200).recipe
    where = Window(25, 25, 175, 175)
    reaches = []
    for seed in range(20):
        for max_noise in (4.5, 1.0):  # 1.0: shifts near the clip, the reach grows to the full band
            narrow, at = sbi_masks.elastic_bend(hull, where, np.random.default_rng(seed), recipe, max_noise, 200)
            reach = sbi_masks._reach(sbi_masks.field_grid(np.random.default_rng(seed), (at.y1 - at.y0, at.x1 - at.x0),
                                                          recipe.elastic_sigma), np.float32(50 / max_noise))
            reaches.append(reach)
            with monkeypatch.context() as m:
                m.setattr(sbi_masks, "_reach", lambda grid, scale: sbi_masks.BAND)
                full, _ = sbi_masks.elastic_bend(hull, where, np.random.default_rng(seed), recipe, max_noise, 200)
            assert narrow.tobytes() == full.tobytes()
    assert min(reaches) < sbi_masks.BAND and max(reaches) == sbi_masks.BAND
