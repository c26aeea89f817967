"""Pseudo-deepfakes by self-blending: masks from 68 landmarks, source transforms, blend (stage-1 data).

Recipes: `sbi` (the DiffFake reference's, sbi.py) and `strong` (ours, generator.py); make_pseudo_fake runs
the one the config names."""

from data_modules.blending.config import BlendConfig
from data_modules.blending.crop import crop_face
from data_modules.blending.generator import degenerate_resamples, make_pseudo_fake
from data_modules.blending.sample import PseudoFake

__all__ = ["BlendConfig", "PseudoFake", "crop_face", "degenerate_resamples", "make_pseudo_fake"]
