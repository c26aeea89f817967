"""What a finished run directory gives scoring: its resolved config and its inference settings."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from data_modules.blending.crop import INFERENCE_MARGIN
from data_modules.io import reading, to_plain
from src.bundle.layout import CONFIG_FILE, InferenceSettings
from src.models.extractor.net import FeatureExtractorNet


def load_run_config(run_dir: Path | str) -> DictConfig:
    """config.yaml of a run directory, or an error saying what to pass."""
    config = Path(run_dir) / CONFIG_FILE
    if not config.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {CONFIG_FILE}); pass run=<outputs/.../runs/..>")
    with reading(config, "it is the run's config dump: rerun the run (python -m src.run) into a new run dir"):
        return OmegaConf.load(config)


def run_settings(cfg: DictConfig, net: FeatureExtractorNet) -> InferenceSettings:
    """The inference settings of a run: its face config and frames per video, the network's input."""
    return InferenceSettings(face=to_plain(cfg.face), frames_per_video=int(cfg.data.frames_per_video),
                             image_size=net.image_size, mean=tuple(net.mean), std=tuple(net.std),
                             crop_margin=INFERENCE_MARGIN)
