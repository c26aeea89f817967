"""Saliency maps of the trained tiny demo extractor look where the fake is: on self-blended pseudo-fakes of
test reals, the Grad-CAM++ map is hotter inside the blend mask than outside it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.blending import BlendConfig, make_pseudo_fake
from data_modules.blending.crop import crop_square, inference_box
from data_modules.records import REAL, select_rows
from data_modules.seeding import keyed_rng
from src.artifacts.extractor import extractor_dir
from src.artifacts.faces import open_face_cache
from src.artifacts.store import ArtifactStore
from src.models.extractor.net import load_extractor
from src.models.extractor.saliency import SaliencyMapper

pytestmark = pytest.mark.slow
MASKED = 0.05  # mask values above this count as blended


def test_pseudo_fake_maps_concentrate_inside_the_blend_mask(tiny_run) -> None:
    cfg = OmegaConf.load(tiny_run / "config.yaml")
    store = ArtifactStore(cfg.paths.artifact_dir)
    net = load_extractor(extractor_dir(store, cfg))
    size = net.image_size
    cache = open_face_cache(store, cfg.data, cfg.face)
    blend = dataclasses.replace(BlendConfig.from_cfg(cfg.blend, size), hflip_p=0.0)
    fakes, masks = [], []
    for row in select_rows(cache.read_index(), "test", REAL):  # frames stage 1 never trained on
        rng, faces = keyed_rng(0, "saliency", row.video_id), cache.read_faces(row.video_id)
        for t in range(0, faces.num_frames, 4):
            fake = make_pseudo_fake(cache.read_crop(row.video_id, t), faces.landmarks[t], rng, blend)
            box = inference_box(fake.landmarks)  # the crop scoring uses, applied to the image and its mask alike
            fakes.append(crop_square(fake.fake, fake.landmarks, box, size)[0])
            masks.append(crop_square(fake.mask, fake.landmarks, box, size)[0] > MASKED)
    assert len(fakes) == 16 and all(m.any() and not m.all() for m in masks)
    maps = SaliencyMapper(net)(fakes)
    inside = np.array([h[m].mean() for h, m in zip(maps, masks, strict=True)])
    outside = np.array([h[~m].mean() for h, m in zip(maps, masks, strict=True)])
    print(f"mean heat inside the blend mask {inside.mean():.3f}, outside {outside.mean():.3f}, "
          f"frames hotter inside {np.mean(inside > outside):.0%}")
    assert inside.mean() > 1.2 * outside.mean()
    assert np.mean(inside > outside) >= 0.6
