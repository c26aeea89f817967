"""The Hydra tree: every group option and experiment composes and resolves; no absolute paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from data_modules.registry import UnknownNameError
from src.config import CONFIG_DIR, check_group_overrides, compose_config, config_groups, group_choices

GROUP_OPTIONS = [(g, o) for g in config_groups() for o in group_choices(g) if g not in ("sweep", "experiment")]


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes(group: str, option: str, tmp_path: Path) -> None:
    cfg = compose_config([f"{group}={option}"], output_dir=tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["paths"]["output_dir"] == str(tmp_path)
    assert set(resolved["stages"]) <= {"preprocess", "train_extractor", "embed", "fit_head", "evaluate"}


@pytest.mark.parametrize("experiment", group_choices("experiment"))
def test_every_experiment_composes(experiment: str, tmp_path: Path) -> None:
    text = (CONFIG_DIR / "experiment" / f"{experiment}.yaml").read_text()
    assert text.startswith("# @package _global_"), f"{experiment}.yaml must start with '# @package _global_'"
    cfg = compose_config([f"experiment={experiment}"], output_dir=tmp_path)
    OmegaConf.to_container(cfg, resolve=True)


def test_defaults_list_holds_the_required_groups() -> None:
    defaults = yaml.safe_load((CONFIG_DIR / "run.yaml").read_text())["defaults"]
    names = [next(iter(d)) for d in defaults if isinstance(d, dict)]
    for group in ("data", "blend", "backbone", "pair_op", "head", "eval", "trainer", "logger", "paths",
                  "extras", "experiment"):
        assert group in names
    assert {"experiment": None} in defaults


def test_no_absolute_paths_in_configs() -> None:
    for path in CONFIG_DIR.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            value = line.split(":", 1)[-1].strip()
            assert not value.startswith("/"), f"{path}: absolute path in '{line.strip()}'"


def test_paths_follow_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIFFFAKE_ARTIFACTS", str(tmp_path / "store"))
    cfg = compose_config([], output_dir=tmp_path)
    assert cfg.paths.artifact_dir == str(tmp_path / "store")


def test_group_override_check_names_valid_choices() -> None:
    check_group_overrides(["head=gmm", "seed=3", "pair_op=abs,sq"])
    with pytest.raises(UnknownNameError) as err:
        check_group_overrides(["head=svdd"])
    assert str(err.value) == "unknown head 'svdd'; valid choices: deep_svdd, gmm, gmm_paper, ocsvm"
    with pytest.raises(UnknownNameError, match="unknown pair_op 'cubic'"):
        check_group_overrides(["pair_op=abs,cubic"])
