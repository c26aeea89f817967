"""Entry point: `python -m src.run experiment=<name> [overrides]` runs the configured stages in order."""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from data_modules.cli import EXPECTED_ERRORS, debug_requested, fail
from data_modules.io import atomic_write_json, atomic_write_text
from src.artifacts.store import ArtifactStore
from src.config import (
    CONFIG_DIR,
    CONFIG_NAME,
    VERSION_BASE,
    check_group_overrides,
    check_launcher_overrides,
    compose_checked,
)
from src.stages import STAGES, RunContext
from src.utils.logging import get_logger
from src.validation import check_run

log = get_logger(__name__)


def run_stages(cfg: DictConfig) -> dict[str, Any]:
    """Check the config (`check_run`), seed, build the context, run each stage and write results.json after
    every one. Loggers and W&B are always closed, also when a stage raises.
    """
    check_run(cfg)
    store = ArtifactStore(cfg.paths.artifact_dir)
    store.check_usable()  # a read-only or full store fails now, not after a stage's work
    import pytorch_lightning as pl  # heavy: imported only once a run really starts

    from src.utils.loggers import build_loggers, close_loggers

    if cfg.extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if cfg.extras.get("print_config"):
        log.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    pl.seed_everything(cfg.seed, workers=True)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    results: dict[str, Any] = {"task_name": cfg.task_name, "seed": cfg.seed, "stages": {}}
    loggers = build_loggers(cfg, run_dir)
    ctx = RunContext(cfg=cfg, run_dir=run_dir, store=store, loggers=loggers,
                     results=results["stages"])
    try:
        for name in cfg.stages:
            log.info("stage %s: start", name)
            start = time.perf_counter()
            outcome = STAGES.get(name)(ctx) or {}
            outcome["seconds"] = round(time.perf_counter() - start, 3)
            results["stages"][name] = outcome
            atomic_write_json(run_dir / "results.json", results)
            log.info("stage %s: done in %.1f s", name, outcome["seconds"])
    finally:
        close_loggers(loggers)
    return results


@hydra.main(config_path=str(CONFIG_DIR), config_name=CONFIG_NAME, version_base=VERSION_BASE)
def _hydra_main(cfg: DictConfig) -> None:
    """Hydra task: run the stages; expected errors exit 2 with one line (HYDRA_FULL_ERROR=1: the traceback)."""
    try:
        run_stages(cfg)
    except EXPECTED_ERRORS as err:
        if debug_requested([]):
            raise
        fail(err)


def main() -> None:
    """Compose and check the config first, so a bad option, value or dataset root ends in one line before Hydra
    makes a run directory; then hand over to Hydra. `--debug` shows tracebacks (as HYDRA_FULL_ERROR=1)."""
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    overrides = [a for a in sys.argv[1:] if not a.startswith("-")]
    multirun = any(a in ("-m", "--multirun") for a in sys.argv[1:])
    if any(a.startswith("-") and a not in ("-m", "--multirun") for a in sys.argv[1:]):
        _hydra_main()  # --help, --cfg job, --info ...: Hydra's own flags, some taking a value
        return
    try:  # a multirun's values are checked by each job (src.sweep checks its whole grid first)
        check_launcher_overrides(overrides)
        if multirun:
            check_group_overrides(overrides)
        else:  # the launcher group only says where jobs run
            check_run(compose_checked([a for a in overrides if not a.lstrip("+~").startswith("hydra/")]))
    except EXPECTED_ERRORS as err:
        if debug_requested([]):
            raise
        fail(err)
    _hydra_main()


if __name__ == "__main__":
    main()
