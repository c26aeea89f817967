"""Pseudo-deepfakes by self-blending: masks from 68 landmarks, source transforms, blend (stage-1 data)."""

from data_modules.blending.config import BlendConfig
from data_modules.blending.crop import crop_face
from data_modules.blending.generator import PseudoFake, degenerate_resamples, make_pseudo_fake

__all__ = ["BlendConfig", "PseudoFake", "crop_face", "degenerate_resamples", "make_pseudo_fake"]
