"""Stage dispatch through src.run: order, results.json, failure paths, W&B always closed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wandb

from data_modules.registry import UnknownNameError
from src.config import compose_config
from src.run import run_stages
from src.stages import STAGES, RunContext
from tests.conftest import REPO_ROOT
from tests.wandb_records import logged_values, offline_runs

CALLS: list[str] = []


def first_stage(ctx: RunContext) -> dict:
    """Logs one metric and leaves a result for the next stage."""
    CALLS.append("first")
    ctx.log_metrics({"toy/value": 0.25}, step=0)
    return {"value": 0.25}


def second_stage(ctx: RunContext) -> dict:
    """Reads the first stage's result."""
    CALLS.append("second")
    return {"doubled": ctx.results["first"]["value"] * 2}


def broken_stage(ctx: RunContext) -> dict:
    """Fails after the W&B run started."""
    raise RuntimeError("stage exploded")


@pytest.fixture
def toy_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    CALLS.clear()
    for name in ("first", "second", "broken"):
        monkeypatch.setitem(STAGES._entries, name, f"tests.test_run:{name}_stage")


def test_stages_run_in_order_and_results_are_written(toy_stages: None, tmp_path: Path) -> None:
    cfg = compose_config(["stages=[first,second]", "logger=csv", f"paths.artifact_dir={tmp_path}/a"],
                         output_dir=tmp_path / "run")
    results = run_stages(cfg)
    assert CALLS == ["first", "second"]
    assert results["stages"]["second"]["doubled"] == 0.5
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["stages"]["first"]["value"] == 0.25 and on_disk["seed"] == cfg.seed
    assert "stages:" in (tmp_path / "run" / "config.yaml").read_text()
    assert "toy/value" in (tmp_path / "run" / "csv" / "metrics.csv").read_text()


def test_unknown_stage_names_valid_choices(tmp_path: Path) -> None:
    cfg = compose_config(["stages=[preprocess,trian]", "logger=none"], output_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="unknown stage 'trian'; valid choices: preprocess, train_extractor"):
        run_stages(cfg)
    with pytest.raises(UnknownNameError):
        STAGES.get("nope")


def test_wandb_offline_run_holds_logged_metric(toy_stages: None, tmp_path: Path) -> None:
    cfg = compose_config(["stages=[first]", "logger=wandb_offline"], output_dir=tmp_path)
    run_stages(cfg)
    assert wandb.run is None
    runs = offline_runs(tmp_path)
    assert len(runs) == 1
    assert logged_values(runs[0], "toy/value") == [0.25]


def test_failing_stage_still_closes_wandb_and_keeps_earlier_results(toy_stages: None, tmp_path: Path) -> None:
    cfg = compose_config(["stages=[first,broken]", "logger=wandb_offline"], output_dir=tmp_path)
    with pytest.raises(RuntimeError, match="stage exploded"):
        run_stages(cfg)
    assert wandb.run is None
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["stages"]) == ["first"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.run", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_help_lists_config_groups() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0
    for group in ("backbone:", "blend:", "data:", "head:", "pair_op:", "experiment:"):
        assert group in proc.stdout


def test_cli_unknown_experiment_is_one_line(tmp_path: Path) -> None:
    proc = _cli("experiment=does_not_exist")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown experiment 'does_not_exist'; valid choices:")


def test_cli_unknown_stage_is_one_line(tmp_path: Path) -> None:
    proc = _cli("stages=[embedd]", "logger=none", "extras.print_config=false", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: unknown stage 'embedd'; valid choices: preprocess, train_extractor, embed, fit_head, evaluate, export")
