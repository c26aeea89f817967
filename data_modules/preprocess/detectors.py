"""Face detector backends by name (`face.backend`): one registry builds and checks them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from data_modules.preprocess.face import FaceDetector
from data_modules.preprocess.perturbed import perturb_settings
from data_modules.preprocess.track import SELECTIONS
from data_modules.registry import Registry

BACKENDS: Registry[Any] = Registry("face.backend")
BACKENDS.add("dlib", "data_modules.preprocess.dlib_backend:DlibDetector")
BACKENDS.add("insightface", "data_modules.preprocess.insightface_backend:InsightFaceDetector")


def check_face_config(face_cfg: DictConfig | Mapping[str, Any]) -> None:
    """Fail before any video is touched when the backend, the selection, the model files or the perturbation
    (or its H.264 encoder) are wrong."""
    SELECTIONS.check(str(face_cfg.get("select", "largest")))
    BACKENDS.get(str(face_cfg["backend"])).check_config(face_cfg)
    perturb_settings(face_cfg)


def build_detector(face_cfg: DictConfig | Mapping[str, Any]) -> FaceDetector:
    """The detector named by face_cfg.backend, configured from face_cfg."""
    return BACKENDS.get(str(face_cfg["backend"])).from_config(face_cfg)
