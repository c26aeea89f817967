"""Model inputs from the face cache: deterministic inference crops, and the pseudo-fakes that calibrate stage 2."""

from __future__ import annotations

import dataclasses

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
    """One self-blended fake per cached frame (seeded per video), made on exactly the inference crop of that
    frame (fixed margin, one crop, no flip: a random mirror would itself be a "differential" cue); frame numbers."""
    rng = keyed_rng(seed, "pseudo_fake", video_id)
    cfg = dataclasses.replace(blend, hflip_p=0.0, inference_crop=True)
    faces = cache.read_faces(video_id)
    fakes = [make_pseudo_fake(cache.read_crop(video_id, t), faces.landmarks[t], rng, cfg).fake
             for t in range(faces.num_frames)]
    return fakes, faces.frame_indices
