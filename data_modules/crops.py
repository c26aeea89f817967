"""Model inputs from the face cache: deterministic inference crops, and the pseudo-fakes that calibrate stage 2."""

from __future__ import annotations

import numpy as np

from data_modules.blending.config import BlendConfig
from data_modules.blending.crop import crop_face
from data_modules.blending.generator import make_pseudo_fake
from data_modules.cache import FaceCache
from data_modules.seeding import keyed_rng


def inference_crops(cache: FaceCache, video_id: str, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """(deterministic size x size crops, frame numbers) of every cached frame of one video."""
    faces = cache.read_faces(video_id)
    crops = [crop_face(cache.read_crop(video_id, t), faces.landmarks[t], size)[0] for t in range(faces.num_frames)]
    return crops, faces.frame_indices


def calibration_fakes(cache: FaceCache, video_id: str, blend: BlendConfig, seed: int
                      ) -> tuple[list[np.ndarray], np.ndarray]:
    """One self-blended fake per cached frame (seeded per video), re-cropped like a test frame; frame numbers."""
    rng = keyed_rng(seed, "pseudo_fake", video_id)
    faces = cache.read_faces(video_id)
    crops = []
    for t in range(faces.num_frames):
        fake = make_pseudo_fake(cache.read_crop(video_id, t), faces.landmarks[t], rng, blend)
        crops.append(crop_face(fake.fake, fake.landmarks, blend.image_size)[0])
    return crops, faces.frame_indices
