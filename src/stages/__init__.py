"""Stage registry and the context every stage receives.

A stage is a plain function `run(ctx) -> dict` that reads earlier stages' artifacts from the store
and returns the metrics it wants in results.json. Modules import lazily, so a run loads only its stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from data_modules.registry import Registry
from src.artifacts.store import ArtifactStore

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

STAGES: Registry[Callable[[RunContext], dict[str, Any]]] = Registry("stage")
for _stage in ("preprocess", "train_extractor", "embed", "fit_head", "evaluate", "export"):
    STAGES.add(_stage, f"src.stages.{_stage}:run")


@dataclass
class RunContext:
    """What a stage may use: the config, its run directory, the artifact store, loggers, earlier results."""

    cfg: DictConfig
    run_dir: Path
    store: ArtifactStore
    loggers: list[Logger] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Send scalar metrics to every experiment logger."""
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)


def check_stages(names: list[str]) -> None:
    """Raise UnknownNameError naming the valid choices when a stage is not registered."""
    for name in names:
        STAGES.check(name)
