"""Calibration pseudo-fakes of stage 2 are made on exactly the inference crop: same geometry as a test frame,
no zero-padded bands (issue 12, bug 2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from data_modules.blending import make_pseudo_fake
from data_modules.blending.crop import crop_face, inference_box
from data_modules.cache import FaceCache
from data_modules.crops import calibration_fakes, inference_crops
from tests.blend_configs import blend_cfg
from tests.fixtures_faces import moved_face, write_face_cache

SIZE = 96
RECIPES = {"sbi": {}, "strong": {}, "robust": {"jpeg": {"p": 0.0}, "downscale": {"p": 0.5}}}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> FaceCache:
    root = tmp_path_factory.mktemp("faces")
    return write_face_cache(root, {f"v{i}": "val" for i in range(4)}, frames_per_video=4, size=160)


def _zero_fraction(images: list[np.ndarray]) -> float:
    return float(np.mean([(im == 0).all(-1).mean() for im in images]))


def _black_bands(images: list[np.ndarray]) -> int:
    """Images with a whole border row or column of black pixels: the zero padding of a crop off the image."""
    black = [(im == 0).all(-1) for im in images]
    return sum(bool(b[0].all() or b[-1].all() or b[:, 0].all() or b[:, -1].all()) for b in black)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_pseudo_fake_on_the_inference_crop_has_its_geometry(recipe):
    """inference_crop=True: the crop box, landmarks and untouched pixels are crop_face's on the same frame."""
    cfg = dataclasses.replace(blend_cfg(recipe, SIZE, **RECIPES[recipe]), hflip_p=0.0, inference_crop=True)
    frame, points = moved_face((4.0, -3.0), 0.6, 200)
    want, want_points = crop_face(frame, points, SIZE)
    box = inference_box(points)
    untouched = 0
    for seed in range(16):
        fake = make_pseudo_fake(frame, points, np.random.default_rng(seed), cfg)
        assert fake.fake.shape == want.shape
        np.testing.assert_allclose(fake.landmarks, want_points, atol=1e-4)
        assert not fake.params["flip"]
        if recipe == "sbi":
            assert fake.params["crop_box"] == list(box)
        else:
            assert fake.params["crop_box"] == list(box)
            assert fake.params["crop_margins"] == pytest.approx([0.125] * 4)
        resampled = fake.params.get("downscale") is not None
        if fake.params["transformed_side"] == "source" and not resampled:
            # the target is the inference crop itself: every pixel outside the mask is crop_face's
            outside = fake.mask == 0
            np.testing.assert_array_equal(fake.fake[outside], want[outside])
            np.testing.assert_array_equal(fake.real, want)
            untouched += 1
    assert untouched >= 3


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_calibration_fakes_match_the_inference_crops_without_black_bands(cache, recipe):
    """Same frames, same geometry as inference_crops: the zero-pixel fraction is the reals' (no padded bands),
    and most pixels outside the blend are the inference crop's exactly."""
    blend = blend_cfg(recipe, SIZE, **RECIPES[recipe])
    reals, fakes, frames_equal = [], [], []
    for row in cache.read_index():
        real, frames = inference_crops(cache, row.video_id, SIZE)
        fake, fake_frames = calibration_fakes(cache, row.video_id, blend, seed=7)
        np.testing.assert_array_equal(frames, fake_frames)
        reals += real
        fakes += fake
        frames_equal += [float((f == r).all(-1).mean()) for f, r in zip(fake, real, strict=True)]
    assert all(f.shape == (SIZE, SIZE, 3) and f.dtype == np.uint8 for f in fakes)
    assert _black_bands(fakes) == _black_bands(reals) == 0
    assert abs(_zero_fraction(fakes) - _zero_fraction(reals)) < 0.005  # colour and resampling move a few
    assert max(frames_equal) > 0.5  # aligned with the test crop pixel for pixel outside the mask
    assert min(frames_equal) < 0.999  # and every frame was blended
    again, _ = calibration_fakes(cache, cache.read_index()[0].video_id, blend, seed=7)
    np.testing.assert_array_equal(again[0], fakes[0])
