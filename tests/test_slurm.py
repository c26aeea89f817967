"""SLURM through Hydra's submitit launcher: the preset composes, `src.sweep ... dry_run=true` prints the job
array it would submit, a multirun really runs its jobs through submitit (its local executor), and a missing
plugin is one line naming the extra."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from data_modules.cli import UsageError
from src import sweep
from src.config import check_launcher_overrides, compose_config
from tests.conftest import REPO_ROOT
from tests.face_media import astronaut_frames, write_video

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the slurm extra (hydra-submitit-launcher)")

SLURM_TARGET = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def test_slurm_preset_composes_over_the_plugin_defaults():
    cfg = compose_config(["experiment=demo", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"], keep_hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == SLURM_TARGET
    assert (launcher.partition, launcher.gpus_per_node, launcher.cpus_per_task, launcher.timeout_min) == ("gpu", 1, 8,
                                                                                                          1440)
    assert launcher.signal_delay_s == 120  # a plugin default the preset keeps
    folder = Path(OmegaConf.to_container(launcher, resolve=True)["submitit_folder"])
    assert folder.parent.name == ".submitit" and folder.parent.parent.parent == Path(cfg.paths.log_dir) / "demo" / "multiruns" and folder.name == "%j"
    plain = compose_config(["hydra/launcher=submitit_slurm"], keep_hydra=True).hydra.launcher
    assert plain._target_ == SLURM_TARGET and plain.timeout_min == 60


def test_sweep_dry_run_prints_the_slurm_jobs_of_each_phase(caplog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the cwd stays empty
    with caplog.at_level(logging.INFO, logger="src.sweep"):
        assert sweep.sweep(["backbone=efficientnet_lite0,resnet50", "head=gmm,ocsvm", "hydra/launcher=slurm",
                            "hydra.launcher.partition=gpu", "hydra.launcher.account=deepfakes",
                            "extractor.epochs=2", "dry_run=true"]) == 0
    messages = [r.getMessage() for r in caplog.records]
    commands = [m.split(": ", 1)[1] for m in messages if m.startswith("phase ") and "src.run" in m]
    launcher = "hydra/launcher=slurm hydra.launcher.partition=gpu hydra.launcher.account=deepfakes"
    # the face cache once, stage 1 + embeddings once per backbone, then the grid that reuses them
    base = "python -m src.run -m experiment=demo logger=wandb_offline logger.group=difffake-grid extractor.epochs=2"
    grid_args = "backbone=efficientnet_lite0,resnet50 head=gmm,ocsvm pair_op=abs,sub,sq,cube"
    assert commands == [f"{base} {launcher} stages=[preprocess]",
                        f"{base} backbone=efficientnet_lite0,resnet50 {launcher} stages=[train_extractor,embed]",
                        f"{base} {grid_args} {launcher}"]
    scripts = [m.split("\n", 1)[1].splitlines() for m in messages if "submits (sbatch script)" in m]
    assert len(scripts) == 3
    arrays = [[line for line in script if line.startswith("#SBATCH --array")] for script in scripts]
    assert arrays == [[], ["#SBATCH --array=0-1%2"], ["#SBATCH --array=0-15%16"]]  # one job alone, not an array
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=deepfakes", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB", "#SBATCH --time=1440", "#SBATCH --job-name=run"):
        assert all(line in script for script in scripts), line
    assert all(any("-m submitit.core._submit" in line and "/demo/multiruns/" in line for line in script)
               for script in scripts)
    assert list(tmp_path.iterdir()) == []


def test_wandb_agent_command_never_carries_the_launcher():
    spec, _ = sweep.narrow(sweep.load_sweep("grid"), ["extractor.epochs=2"])
    command = sweep.wandb_spec(spec)["command"]
    assert not any(sweep.is_launcher_override(c) for c in command) and "extractor.epochs=2" in command
    assert sweep.is_launcher_override("hydra/launcher=slurm") and sweep.is_launcher_override("hydra.launcher.qos=x")
    assert not sweep.is_launcher_override("hydra.run.dir=x")


def test_missing_plugin_is_one_line_naming_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("hydra_plugins") else real(name, *a))
    with pytest.raises(UsageError, match=r"hydra/launcher=slurm needs Hydra's submitit launcher: "
                                         r"pip install -e '.\[slurm\]'"):
        check_launcher_overrides(["experiment=demo", "hydra/launcher=slurm"])
    check_launcher_overrides(["hydra/launcher=basic"])  # Hydra's own launcher needs nothing


@pytest.mark.slow
def test_multirun_jobs_run_through_submitit(tmp_path):
    """The same path as SLURM with submitit's local executor: each job runs in its own process and writes its
    run directory under the sweep dir."""
    sweep_dir = tmp_path / "multirun"
    write_video(tmp_path / "data" / "real" / "a.mp4", astronaut_frames(2))  # the cheapest real stage: one clip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "src.run", "-m", "stages=[preprocess]", "data=folder",
                           f"data.root={tmp_path / 'data'}", "data.frames_per_video=2", "face.num_workers=0",
                           "logger=none", "seed=1,2",
                           "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
                           f"hydra.sweep.dir={sweep_dir}", f"paths.artifact_dir={tmp_path}/artifacts"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seeds = {OmegaConf.load(sweep_dir / str(job) / "config.yaml").seed for job in (0, 1)}
    assert seeds == {1, 2}
    assert sorted(p.name for p in (sweep_dir / ".submitit").iterdir())  # submitit's own job folders
