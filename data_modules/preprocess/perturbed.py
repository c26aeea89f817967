"""Frame sampling under a test-time perturbation named in the face config (`perturbation`, `perturbation_seed`).

Frame kinds degrade each sampled frame with a generator seeded by (seed, video id, frame number), so any worker
count gives the same bytes; h264 samples from a re-encoded temporary copy, deleted afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from data_modules.perturb import H264, Perturbation, frame_rng, perturb_frame, reencode_h264, require_encoder
from data_modules.preprocess.frames import VideoReadError, sample_frames

PERTURB_KEYS = ("perturbation", "perturbation_seed")


@dataclass(frozen=True)
class PerturbSettings:
    """The perturbation applied before detection and the seed of its random draws."""

    perturbation: Perturbation
    seed: int = 0


def perturb_settings(face_cfg: Mapping[str, Any]) -> PerturbSettings | None:
    """The checked perturbation of a face config, None when it names none; a bad one raises before any video."""
    value = face_cfg.get("perturbation")
    if value is None:
        return None
    settings = PerturbSettings(Perturbation.parse(value), int(face_cfg.get("perturbation_seed", 0)))
    if settings.perturbation.kind == H264 and not settings.perturbation.is_identity:
        require_encoder()
    return settings


def _sample_reencoded(path: Path, n: int, crf: int) -> list[tuple[int, np.ndarray]]:
    if path.is_dir():
        raise VideoReadError("the h264 perturbation needs a video file, not a frame folder")
    with tempfile.TemporaryDirectory(prefix="difffake-h264-") as tmp:
        try:
            copy = reencode_h264(path, Path(tmp) / "reencoded.mp4", crf).path
        except (av.FFmpegError, ValueError) as err:
            raise VideoReadError(f"cannot re-encode as H.264: {type(err).__name__}: {err}") from err
        return sample_frames(copy, n)


def sample_perturbed(path: str | Path, n: int, video_id: str, settings: PerturbSettings | None
                     ) -> list[tuple[int, np.ndarray]]:
    """sample_frames(path, n) with the perturbation applied (frame numbers unchanged); plain without one."""
    if settings is None or settings.perturbation.is_identity:
        return sample_frames(path, n)
    perturbation = settings.perturbation
    if perturbation.kind == H264:
        return _sample_reencoded(Path(path), n, int(perturbation.parameter))
    return [(i, perturb_frame(frame, perturbation, frame_rng(settings.seed, video_id, i)))
            for i, frame in sample_frames(path, n)]
