"""Stage registry and the context every stage receives.

A stage is a plain function `run(ctx) -> dict` that reads earlier stages' artifacts from the store
and returns the metrics it wants in results.json. Modules import lazily, so a run loads only its stages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from src.utils.artifacts import ArtifactStore

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

STAGES: dict[str, str] = {
    "preprocess": "src.stages.preprocess:run",
    "train_extractor": "src.stages.train_extractor:run",
    "embed": "src.stages.embed:run",
    "fit_head": "src.stages.fit_head:run",
    "evaluate": "src.stages.evaluate:run",
}


class UnknownStageError(ValueError):
    """A `stages` entry that names no registered stage."""


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
    """Raise UnknownStageError naming the valid choices when a stage is not registered."""
    for name in names:
        if name not in STAGES:
            raise UnknownStageError(f"unknown stage '{name}'; valid choices: {', '.join(STAGES)}")


def resolve_stage(name: str) -> Callable[[RunContext], dict[str, Any]]:
    """Import and return the stage function registered under `name`."""
    check_stages([name])
    module, func = STAGES[name].split(":")
    return getattr(importlib.import_module(module), func)
