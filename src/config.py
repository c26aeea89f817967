"""Locating and composing the Hydra config tree in experiments/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from data_modules.cli import UsageError
from data_modules.registry import UnknownNameError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments"
CONFIG_NAME = "run"
VERSION_BASE = "1.3"


def group_choices(group: str) -> list[str]:
    """Option names of a config group (yaml files under experiments/<group>)."""
    folder = CONFIG_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def config_groups() -> list[str]:
    """Every top-level config group."""
    return sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name != "hydra")


def check_group_overrides(overrides: list[str]) -> None:
    """Raise UnknownNameError (one line, naming the valid choices) for an override naming a missing option."""
    groups = set(config_groups())
    for override in overrides:
        if "=" not in override or override.startswith("hydra"):
            continue
        key, value = override.split("=", 1)
        key = key.lstrip("+~")
        if key.startswith("override "):
            key = key.split(" ", 1)[1]
        if key not in groups or value in ("", "null"):
            continue
        choices = group_choices(key)
        for option in value.split(","):  # multirun sweeps list options with commas
            if option not in choices:
                raise UnknownNameError(f"unknown {key} '{option}'; valid choices: {', '.join(choices) or '(none)'}")


SUBMITIT_LAUNCHERS = ("slurm", "submitit_slurm", "submitit_local")  # hydra/launcher options of the submitit plugin


def check_launcher_overrides(overrides: list[str]) -> None:
    """A one-line UsageError when `hydra/launcher=` names a submitit launcher whose plugin is not installed."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~").removeprefix("override ") == "hydra/launcher" and value in SUBMITIT_LAUNCHERS:
            if importlib.util.find_spec("hydra_plugins") is None or \
                    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
                raise UsageError(f"{override} needs Hydra's submitit launcher: pip install -e '.[slurm]' "
                                 f"(the hydra-submitit-launcher package)")


def compose_config(overrides: list[str] | None = None, output_dir: Path | None = None,
                   keep_hydra: bool = False) -> DictConfig:
    """Compose experiments/run.yaml outside `hydra.main` (tests, scoring, sweeps).

    The Hydra runtime is registered (then dropped from the tree, unless `keep_hydra`) so `${hydra:...}`
    interpolations resolve; `output_dir` pins the run dir.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=VERSION_BASE):
        cfg = compose(config_name=CONFIG_NAME, overrides=list(overrides or []), return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    if not keep_hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


def compose_checked(overrides: list[str] | None = None, output_dir: Path | None = None) -> DictConfig:
    """`compose_config` for command lines: a bad group option or key is a one-line ConfigValueError (naming the
    override and the fix) before any work; values are checked by `validation.check_run` / `validate_config`."""
    from src.validation import ConfigValueError

    overrides = list(overrides or [])
    check_group_overrides(overrides)
    try:
        cfg = compose_config(overrides, output_dir)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigValueError(f"{one_line(err)} (overrides: {' '.join(overrides) or 'none'})") from err
    return cfg


def one_line(err: BaseException) -> str:
    """An exception's message on one line (Hydra's messages span several)."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def datasets_in_run(cfg: DictConfig) -> list[DictConfig]:
    """The training dataset followed by every extra test dataset, without duplicates by name."""
    seen, out = set(), []
    for data in [cfg.data, *cfg.get("test_data", {}).values()]:
        if data.name not in seen:
            seen.add(data.name)
            out.append(data)
    return out
