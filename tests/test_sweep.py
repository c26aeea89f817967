"""make sweep: the W&B spec and the Hydra multirun hold the same grid, and stage-1 artifacts are shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from src import sweep
from src.artifacts.keys import embedding_key, extractor_key
from src.config import compose_config

PARAMS = ("backbone", "head", "pair_op")


def _multirun_combinations(spec: sweep.SweepSpec) -> set[frozenset[str]]:
    """The jobs Hydra's basic sweeper launches for multirun_argv, reduced to the swept parameters."""
    argv = sweep.multirun_argv(spec)
    assert argv[0] == "-m"
    overrides = OverridesParser.create().parse_overrides(argv[1:])
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    return {frozenset(o for o in job if o.split("=")[0] in PARAMS) for job in jobs}


def _wandb_combinations(spec: sweep.SweepSpec) -> set[frozenset[str]]:
    """The grid a W&B grid sweep enumerates from the spec's parameter values."""
    params = sweep.wandb_spec(spec)["parameters"]
    spec_grid = sweep.grid(sweep.SweepSpec(spec.name, spec.experiment, spec.metric,
                                           {k: v["values"] for k, v in params.items()}))
    return {frozenset(f"{k}={v}" for k, v in combo.items()) for combo in spec_grid}


def test_wandb_spec_and_multirun_hold_the_same_grid() -> None:
    spec = sweep.load_sweep("grid")
    assert set(spec.parameters) == set(PARAMS)
    multirun, wandb_grid = _multirun_combinations(spec), _wandb_combinations(spec)
    expected = 1
    for values in spec.parameters.values():
        expected *= len(values)
    assert len(multirun) == len(wandb_grid) == expected == len(sweep.grid(spec))
    assert multirun == wandb_grid


def test_agent_command_lets_hydra_read_the_parameters() -> None:
    spec = sweep.load_sweep("grid")
    command = sweep.wandb_spec(spec)["command"]
    assert command[:4] == ["${env}", "${interpreter}", "-m", "src.run"]
    assert command[-1] == "${args_no_hyphens}"
    assert f"logger.group={spec.name}" in command and "logger=wandb" in command
    fixed = [c for c in command[4:-1]]
    combo = sweep.grid(spec)[-1]
    # What the agent substitutes for ${args_no_hyphens}: `key=value` pairs, exactly Hydra's override syntax.
    agent_args = [f"{k}={v}" for k, v in combo.items()]
    cfg = compose_config([*fixed, *agent_args])
    assert cfg.pair_op.name == combo["pair_op"] and cfg.head.name == combo["head"]
    assert cfg.logger.group == spec.name and cfg.logger.mode == "online"
    assert cfg.task_name == spec.experiment


def test_offline_multirun_logs_offline_grouped_runs() -> None:
    spec = sweep.load_sweep("grid")
    argv = sweep.multirun_argv(spec)
    cfg = compose_config([a for a in argv[1:] if "," not in a])
    assert cfg.logger.kind == "wandb" and cfg.logger.mode == "offline" and cfg.logger.group == spec.name


def test_stage1_artifacts_are_shared_across_operators_and_heads(tmp_path: Path) -> None:
    spec = sweep.load_sweep("grid")
    keys: dict[str, set[tuple[str, str]]] = {}
    for combo in sweep.grid(spec):
        if combo["head"] == "deep_svdd" or combo["pair_op"] in ("sub", "sq"):
            continue  # a representative subset keeps this fast; every value of each parameter stays in
        cfg = compose_config([f"experiment={spec.experiment}", *(f"{k}={v}" for k, v in combo.items())], tmp_path)
        keys.setdefault(combo["backbone"], set()).add((extractor_key(cfg), embedding_key(cfg, cfg.data)))
    assert set(keys) == set(spec.parameters["backbone"])
    assert all(len(v) == 1 for v in keys.values()), "operators/heads must not change stage-1 or embedding keys"
    assert len({next(iter(v)) for v in keys.values()}) == len(keys), "each backbone trains its own extractor"


def test_narrowing_keeps_a_subset_and_passes_overrides_through() -> None:
    spec, extra = sweep.narrow(sweep.load_sweep("grid"), ["backbone=efficientnet_lite0", "head=gmm,ocsvm",
                                                          "extractor.epochs=1", "experiment=demo_tiny"])
    assert spec.experiment == "demo_tiny" and extra == ["extractor.epochs=1"]
    assert len(sweep.grid(spec)) == 1 * 2 * len(spec.parameters["pair_op"])
    assert "extractor.epochs=1" in sweep.multirun_argv(spec)


def test_bad_sweep_definitions_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "SWEEP_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="valid choices"):
        sweep.load_sweep("nope")
    (tmp_path / "bad.yaml").write_text("name: x\nexperiment: demo\nmetric: {name: m, goal: maximize}\n"
                                       "parameters: {head: [gmm, lasso]}\n")
    with pytest.raises(ValueError, match="unknown head 'lasso'"):
        sweep.load_sweep("bad")
