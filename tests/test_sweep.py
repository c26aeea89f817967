"""make sweep: the W&B spec and the Hydra multirun hold the same grid, and stage-1 artifacts are shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_seeds_repeat_every_grid_point_in_the_multirun_and_the_wandb_spec(tmp_path: Path) -> None:
    base = sweep.load_sweep("grid")
    spec, extra = sweep.narrow(base, ["backbone=efficientnet_lite0", "head=gmm", "seeds=[1,2,3]"])
    assert spec.seeds == (1, 2, 3) and extra == []
    assert len(sweep.grid(spec)) == 3 * len(spec.parameters["pair_op"])
    argv = sweep.multirun_argv(spec, sweep_dir=tmp_path / "m")
    assert "seed=1,2,3" in argv and f"hydra.sweep.dir={tmp_path / 'm'}" in argv
    overrides = OverridesParser.create().parse_overrides(argv[1:])
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    seeds_per_point: dict[frozenset[str], set[str]] = {}
    for job in jobs:
        point = frozenset(o for o in job if o.split("=")[0] in PARAMS)
        seeds_per_point.setdefault(point, set()).add(next(o for o in job if o.startswith("seed=")))
    assert len(jobs) == len(sweep.grid(spec))
    assert all(s == {"seed=1", "seed=2", "seed=3"} for s in seeds_per_point.values())
    assert sweep.wandb_spec(spec)["parameters"]["seed"] == {"values": ["1", "2", "3"]}
    cfg = compose_config([*sweep.base_overrides(spec, "wandb_offline"), "seed=2"])
    assert cfg.seed == 2
    assert sweep.sweep(["seeds=1,2", "head=gmm", "backbone=efficientnet_lite0", "dry_run=true"]) == 0


def test_bad_seeds_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(["seeds=[1,x]", "dry_run=true"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: seeds='[1,x]': seeds must be integers, e.g. seeds=[1,2,3]\n"
    spec = sweep.load_sweep("grid")
    with pytest.raises(ValueError, match=r"seeds='\[1,a\]': seeds must be integers"):
        sweep.narrow(spec, ["seeds=[1,a]"])
    with pytest.raises(ValueError, match="each seed once"):
        sweep.narrow(spec, ["seeds=[1,1]"])
    with pytest.raises(ValueError, match="not both"):
        sweep.narrow(spec, ["seeds=[1,2]", "seed=3"])


def test_seed_summary_gives_mean_and_sample_std_per_setting_and_scorer(tmp_path: Path) -> None:
    from tests.test_report import write_run

    aucs = {1: (0.90, 0.70), 2: (0.80, 0.72), 3: (0.85, 0.74)}  # seed -> (gmm, classifier) on the dataset
    for seed, (gmm, classifier) in aucs.items():
        write_run(tmp_path / f"m/{seed}", "demo", {"demo": {"gmm": {"auc": gmm}, "classifier": {"auc": classifier}},
                                                   "demo/swap/raw": {"gmm": {"auc": 0.5}}}, seed=seed)
    write_run(tmp_path / "m/other", "demo_tiny", {"demo": {"gmm": {"auc": 0.6}}}, seed=1)  # another setting
    text = sweep.write_seed_summary(tmp_path / "m").read_text()
    gmm = np.array([a[0] for a in aucs.values()])
    assert f"| demo | gmm | {gmm.mean():.4f} ± {gmm.std(ddof=1):.4f} | 3 | 1, 2, 3 |" in text
    assert f"| demo | classifier | {0.72:.4f} ± {0.02:.4f} | 3 | 1, 2, 3 |" in text
    assert "| demo | gmm | 0.6000 ± 0.0000 | 1 | 1 |" in text  # one seed: std 0
    assert "demo/swap/raw" not in text  # whole datasets only
    assert text.count("backbone=") == 3  # rows: two scorers of demo, one of demo_tiny


def test_cluster_phases_build_face_caches_once_and_stage1_per_seed() -> None:
    spec, _ = sweep.narrow(sweep.load_sweep("grid"), ["head=gmm,ocsvm", "pair_op=abs", "seeds=[1,2]"])
    faces, stage1, full = sweep.cluster_phases(spec)
    assert faces.stages == ("preprocess",) and len(sweep.grid(faces.spec)) == 1  # no backbone, op, head or seed
    assert stage1.stages == ("train_extractor", "embed")
    assert len(sweep.grid(stage1.spec)) == len(spec.parameters["backbone"]) * 2  # one per backbone and seed
    assert "seed=1,2" in stage1.argv((), "wandb_offline") and "seed=1,2" not in " ".join(faces.argv((), "none"))
    assert len(sweep.grid(full.spec)) == len(spec.parameters["backbone"]) * 2 * 2
