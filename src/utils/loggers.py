"""Experiment loggers from the `logger` config group, with an offline fallback for W&B."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from data_modules.registry import Registry
from src.utils.logging import get_logger

log = get_logger(__name__)

WANDB_HOST = ("api.wandb.ai", 443)


def _wandb_reachable(timeout: float = 2.0) -> bool:
    """True when the W&B API host accepts a TCP connection."""
    try:
        with socket.create_connection(WANDB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _has_wandb_key() -> bool:
    """True when an API key is in the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def resolve_wandb_mode(requested: str) -> str:
    """WANDB_MODE wins; an online request without a key or network falls back to offline, with a warning."""
    env_mode = os.environ.get("WANDB_MODE")
    if env_mode:
        return env_mode
    if requested != "online":
        return requested
    if not _has_wandb_key():
        log.warning("W&B: no API key (WANDB_API_KEY or ~/.netrc); logging offline. Upload later with `wandb sync`.")
        return "offline"
    if not _wandb_reachable():
        log.warning("W&B: api.wandb.ai is unreachable; logging offline. Upload later with `wandb sync`.")
        return "offline"
    return "online"


LOGGERS: Registry[Callable[[DictConfig, Path], list[Logger]]] = Registry("logger.kind")
LOGGERS.add("none", lambda cfg, run_dir: [])
LOGGERS.add("csv", lambda cfg, run_dir: [CSVLogger(save_dir=str(run_dir), name="csv", version="")])


@LOGGERS.register("wandb")
def _wandb_logger(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    return [WandbLogger(save_dir=str(run_dir), project=cfg.logger.project, entity=cfg.logger.entity,
                        group=cfg.logger.group, job_type=cfg.logger.job_type, name=f"{cfg.task_name}-{run_dir.name}",
                        tags=list(cfg.get("tags") or []), mode=resolve_wandb_mode(cfg.logger.mode),
                        log_model=cfg.logger.log_model, config=OmegaConf.to_container(cfg, resolve=True))]


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    """Lightning loggers for `cfg.logger` writing under `run_dir`."""
    return LOGGERS.get(str(cfg.logger.kind))(cfg, run_dir)


def wandb_run(loggers: list[Logger]) -> Any | None:
    """The live wandb Run behind the loggers, if any."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            return logger.experiment
    return None


def close_loggers(loggers: list[Logger]) -> None:
    """Flush and finish every logger, and any W&B run left open."""
    for logger in loggers:
        try:
            logger.finalize("success")
        except Exception as err:  # closing must never hide the stage's own error
            log.warning("could not finalize logger %s: %s", type(logger).__name__, err)
    import wandb

    if wandb.run is not None:
        wandb.finish()
