"""Property tests of the strong pseudo-fake recipe (and what both recipes share) on a real face (dlib landmarks
on scikit-image's astronaut); the reference's recipe is tested in test_sbi.py."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest

import data_modules.blending.landmarks as lm
import data_modules.blending.masks as masks
import data_modules.blending.transforms as transforms
from data_modules.blending import BlendConfig, crop_face, degenerate_resamples, make_pseudo_fake
from data_modules.blending.crop import face_box
from tests import blend_configs
from tests.fixtures_faces import astronaut_face

SIZE = 96
SEEDS = range(200)


def blend_cfg(name: str = "strong", size: int = SIZE, **overrides) -> BlendConfig:
    """The experiments/blend/<name>.yaml group (with its defaults) plus overrides, at SIZE."""
    return blend_configs.blend_cfg(name, size, **overrides)


def only(mask: str, **overrides) -> BlendConfig:
    """A config that draws only `mask` (global, eyes, mouth or lower_face)."""
    weights = {k: float(k == mask) for k in ("global", "eyes", "mouth", "lower_face")}
    return blend_cfg(mask_weights=weights, **overrides)


def sample(seed: int, cfg: BlendConfig):
    frame, points = astronaut_face()
    return make_pseudo_fake(frame, points, np.random.default_rng(seed), cfg)


def at(mask: np.ndarray, point: np.ndarray) -> float:
    x, y = np.round(point).astype(int)
    return float(mask[y, x])


def test_outputs_are_valid_and_fake_equals_real_outside_the_mask():
    cfg = blend_cfg()
    kinds = set()
    for seed in SEEDS:
        s = sample(seed, cfg)
        kinds.add(s.mask_type)
        assert s.real.shape == s.fake.shape == (SIZE, SIZE, 3) and s.real.dtype == s.fake.dtype == np.uint8
        assert s.mask.shape == (SIZE, SIZE) and s.mask.dtype == np.float32
        assert np.isfinite(s.mask).all() and s.mask.min() >= 0.0 and s.mask.max() <= 1.0
        assert 0.9 * s.params["blend_ratio"] <= s.mask.max() <= s.params["blend_ratio"] + 1e-6
        outside = s.mask == 0
        assert outside.any() and not outside.all()
        np.testing.assert_array_equal(s.fake[outside], s.real[outside])
        assert (s.fake[~outside] != s.real[~outside]).any()
    assert kinds == {"global_all", "global_dfl", "global_components", "global_extended", "eyes", "mouth",
                     "lower_face"}


def test_mask_mixture_follows_the_configured_weights():
    cfg = blend_cfg()
    groups = [sample(seed, cfg).params["mask_group"] for seed in SEEDS]
    share = groups.count("global") / len(groups)
    assert 0.4 < share < 0.6  # paper: half global, the rest split among the three local masks
    assert all(groups.count(k) > 15 for k in ("eyes", "mouth", "lower_face"))


@pytest.mark.parametrize(("mask", "inside", "outside"), [
    ("eyes", [lm.RIGHT_EYE, lm.LEFT_EYE], [lm.MOUTH]),
    ("mouth", [lm.MOUTH], [lm.RIGHT_EYE, lm.LEFT_EYE]),
    ("lower_face", [lm.MOUTH, np.array([57, 57, 8])], [lm.RIGHT_EYE, lm.LEFT_EYE]),
])
def test_local_masks_cover_their_region_only(mask, inside, outside):
    cfg = only(mask)
    for seed in range(50):
        s = sample(seed, cfg)
        assert s.mask_type == mask
        for group in inside:
            assert at(s.mask, s.landmarks[group].mean(0)) > 0.2 * s.params["blend_ratio"], (seed, group)
        for group in outside:
            assert at(s.mask, s.landmarks[group].mean(0)) == 0.0, (seed, group)


def test_extended_hull_reaches_above_the_brows_and_all_hull_does_not():
    def top(variant: str, seed: int) -> tuple[int, float]:
        s = sample(seed, only("global", global_variants=[variant], affine={"translate": 0.0, "scale": [1.0, 1.0]}))
        return int(np.nonzero(s.mask.max(1))[0][0]), float(s.landmarks[lm.BROWS, 1].min())
    for seed in range(10):
        ext_top, brow = top("extended", seed)
        all_top, _ = top("all", seed)
        assert ext_top < brow - 5 and ext_top < all_top - 5


def test_flip_mirrors_image_and_maps_left_eye_onto_right_eye():
    plain, flipped = (blend_cfg(hflip_p=p, color_p=0.0, sharpness_p=0.0) for p in (0.0, 1.0))
    for seed in range(20):
        a, b = sample(seed, plain), sample(seed, flipped)
        assert not a.params["flip"] and b.params["flip"]
        np.testing.assert_array_equal(b.real, cv2.flip(a.real, 1))
        mirrored = a.landmarks.copy()
        mirrored[:, 0] = SIZE - 1 - mirrored[:, 0]
        np.testing.assert_allclose(b.landmarks[lm.RIGHT_EYE], mirrored[lm.LEFT_EYE][[3, 2, 1, 0, 5, 4]], atol=1e-4)
        np.testing.assert_allclose(b.landmarks[lm.LEFT_EYE], mirrored[lm.RIGHT_EYE][[3, 2, 1, 0, 5, 4]], atol=1e-4)
        # the subject's right eye stays on the image's left after the flip
        assert b.landmarks[lm.RIGHT_EYE, 0].mean() < b.landmarks[lm.LEFT_EYE, 0].mean()


def test_same_seed_gives_identical_bytes_and_other_seeds_differ():
    cfg = blend_cfg("robust")
    for seed in range(20):
        a, b = sample(seed, cfg), sample(seed, cfg)
        assert a.real.tobytes() == b.real.tobytes() and a.fake.tobytes() == b.fake.tobytes()
        assert a.mask.tobytes() == b.mask.tobytes() and a.params == b.params and a.mask_type == b.mask_type
    assert sample(1, cfg).fake.tobytes() != sample(2, cfg).fake.tobytes()


def test_robustness_augmentations_hit_real_and_fake_alike():
    cfg = blend_cfg("robust", jpeg={"p": 1.0, "quality": [50, 60]}, downscale={"p": 1.0, "scale": [0.5, 0.6]})
    for seed in range(20):
        s = sample(seed, cfg)
        assert 50 <= s.params["jpeg_quality"] <= 60 and 0.5 <= s.params["downscale"] <= 0.6
        far = cv2.dilate((s.mask > 0).astype(np.uint8), np.ones((33, 33), np.uint8)) == 0
        np.testing.assert_array_equal(s.fake[far], s.real[far])


def test_degenerate_masks_are_redrawn_and_counted_never_nan():
    cfg = only("eyes", blur_kernels=[[150, 150], [3, 5]])
    before = sum(degenerate_resamples().values())
    redrawn = 0
    for seed in range(30):
        s = sample(seed, cfg)
        redrawn += s.params["resamples"]
        assert np.isfinite(s.mask).all() and s.mask.max() > 0
    assert redrawn > 0
    assert sum(degenerate_resamples().values()) - before == redrawn


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="mask_weights"):
        blend_cfg(mask_weights={"global": 0.0, "eyes": 0.0, "mouth": 0.0, "lower_face": 0.0})
    with pytest.raises(ValueError, match="global_variants"):
        blend_cfg(global_variants=["cheeks"])
    with pytest.raises(ValueError, match="landmarks must be 68"):
        make_pseudo_fake(astronaut_face()[0], np.zeros((5, 2)), np.random.default_rng(0), blend_cfg())


def test_crop_face_is_deterministic_and_moves_landmarks_with_the_pixels():
    frame, points = astronaut_face()
    a, pa = crop_face(frame, points, 128)
    b, pb = crop_face(frame, points, 128)
    assert a.shape == (128, 128, 3) and a.tobytes() == b.tobytes() and np.array_equal(pa, pb)
    assert pa.min() > 0 and pa.max() < 128
    x0, y0, x1, y1 = face_box(points)
    side = max(x1 - x0, y1 - y0) * 1.25
    assert pa.max(0) - pa.min(0) == pytest.approx((points.max(0) - points.min(0)) * 128 / side, rel=0.02)
    assert pa[:, 1].min() > 128 * 0.125  # the forehead is in the crop
    # a face at the frame's corner is zero-padded, not shifted: landmarks keep their relative place
    corner = frame[int(points[:, 1].min()) - 5:, int(points[:, 0].min()) - 5:]
    c, pc = crop_face(np.ascontiguousarray(corner), points - (points.min(0) - 5), 128)
    np.testing.assert_allclose(pc, pa, atol=1.0)
    assert (c[:5] == 0).all()


def test_jpeg_of_the_fake_window_equals_coding_the_whole_fake():
    cfg = blend_cfg("robust", jpeg={"p": 0.0}, downscale={"p": 0.5, "scale": [0.5, 0.9]})
    for seed in range(30):
        s = sample(seed, cfg)
        quality = 40 + seed * 2
        real, fake = transforms.jpeg_pair(s.real, s.fake, tuple(s.params["mask_box"]), quality)
        assert real.tobytes() == transforms.apply_jpeg(s.real, quality).tobytes()
        assert fake.tobytes() == transforms.apply_jpeg(s.fake, quality).tobytes()


def test_downscaled_blends_are_made_small_and_keep_fake_equal_to_real_outside_the_mask():
    cfg = blend_cfg("robust", jpeg={"p": 0.0}, downscale={"p": 1.0, "scale": [0.5, 0.6]})
    for seed in range(40):
        s = sample(seed, cfg)
        work = s.params["work_size"]
        assert work % 2 == 0 and round(SIZE * 0.5) - 2 <= work <= round(SIZE * 0.6) + 2
        assert s.real.shape == s.fake.shape == (SIZE, SIZE, 3) and s.mask.shape == (SIZE, SIZE)
        outside = s.mask == 0
        np.testing.assert_array_equal(s.fake[outside], s.real[outside])
        x0, y0, x1, y1 = s.params["mask_box"]
        boxed = np.zeros_like(outside)
        boxed[y0:y1, x0:x1] = True
        assert not s.mask[~boxed].any() and (s.fake[~boxed] == s.real[~boxed]).all()
        assert (s.fake != s.real).any()
    # made at half size, the real has lost the fine detail a full-size crop keeps
    plain = sample(0, blend_cfg("robust", jpeg={"p": 0.0}, downscale={"p": 0.0}, hflip_p=0.0, color_p=0.0,
                                sharpness_p=0.0, crop_margin=[0.1, 0.1]))
    small = sample(0, blend_cfg("robust", jpeg={"p": 0.0}, downscale={"p": 1.0, "scale": [0.5, 0.5]}, hflip_p=0.0,
                                color_p=0.0, sharpness_p=0.0, crop_margin=[0.1, 0.1]))
    detail = [float(np.abs(cv2.Laplacian(cv2.cvtColor(s.real, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean())
              for s in (plain, small)]
    assert detail[1] < 0.7 * detail[0]


def test_colour_map_follows_the_albumentations_pipeline_on_a_real_face():
    face, _ = crop_face(*astronaut_face(), 160)
    rng = np.random.default_rng(0)
    errors, changes = [], []
    for _ in range(60):
        p = transforms.draw_color(rng)
        exact = transforms.color_pipeline(face, p).astype(np.float32)
        errors.append(np.abs(transforms.apply_color(face, p) - exact).mean())
        changes.append(np.abs(face - exact).mean())
    assert np.mean(errors) < 3.5 and max(errors) < 8.0  # grey levels
    assert np.mean(changes) > 4 * np.mean(errors)  # the change itself is far larger than the model's error
    # the same parameters give the same map in every process: the model is fitted from fixed draws
    assert transforms.color_matrix(p).tobytes() == transforms.color_matrix(dict(p)).tobytes()


def test_sharpen_applies_albumentations_sharpen_kernel():
    face, _ = crop_face(*astronaut_face(), 128)
    for alpha, lightness in [(0.2, 0.5), (0.35, 0.75), (0.5, 1.0)]:
        kernel = np.full((3, 3), -alpha, np.float32)
        kernel[1, 1] = 1.0 - alpha + alpha * (8.0 + lightness)
        exact = A.Sharpen(p=1.0).apply(face, alpha=alpha, sharpening_matrix=kernel).astype(np.int16)
        assert np.abs(transforms.sharpen(face, alpha, lightness) - exact).max() <= 2


def test_elastic_warp_bends_the_outline_within_its_bound_and_nothing_else():
    disc = np.zeros((120, 120), np.uint8)
    cv2.circle(disc, (60, 60), 35, 255, -1)
    std = 1.5
    a = masks.elastic_warp(disc, std, 7.0, np.random.default_rng(1))
    b = masks.elastic_warp(disc, std, 7.0, np.random.default_rng(1))
    assert a.tobytes() == b.tobytes() and set(np.unique(a)) <= {0, 255}
    changed = a != disc
    assert changed.any()
    reach = masks.ELASTIC_CLIP * std * np.sqrt(2) + 1
    distance = np.hypot(*np.nonzero(changed)[::-1] - np.array([[60], [60]]))
    assert np.all(np.abs(distance - 35) <= reach + 1)
    empty = np.zeros((40, 40), np.uint8)
    assert masks.elastic_warp(empty, std, 7.0, np.random.default_rng(1)) is empty


def test_blur_stages_erode_then_blur_and_return_a_trimmed_patch():
    hull = np.zeros((100, 100), np.uint8)
    hull[30:60, 40:80] = 255  # 30 rows x 40 columns
    assert masks.blur_stages(hull, 31, 5) is None  # the eroding kernel is larger than the region
    patch, x, y = masks.blur_stages(hull, 5, 7)
    assert patch.dtype == np.float32 and patch.max() == 1.0 and patch.min() == 0.0
    # eroded by 2 on each side, spread by 3 by the 7-tap blur, one zero pixel of margin
    assert (x, y) == (40 + 2 - 3 - 1, 30 + 2 - 3 - 1) and patch.shape == (30 - 4 + 6 + 2, 40 - 4 + 6 + 2)
    assert not patch[0].any() and not patch[-1].any() and not patch[:, 0].any() and not patch[:, -1].any()
    assert patch[1:-1, 1:-1].min() > 0
