"""The demo pipeline end to end on the CPU (experiment=demo_tiny): every stage, real models, offline W&B;
an interrupted run, rerun, redoes nothing that had finished."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from src.sweep import load_sweep
from tests.demo_run import run_tiny
from tests.wandb_records import logged_values

pytestmark = pytest.mark.slow

SCORERS = ["classifier", "gmm", "ocsvm", "deep_svdd", "fusion_gmm", "fusion_ocsvm", "fusion_deep_svdd"]


def _mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_demo_end_to_end_then_interrupted_and_rerun(tmp_path_factory, monkeypatch, caplog) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    base = tmp_path_factory.getbasetemp() / "demo_tiny"
    # 1. A run stopped after stage 1 (as if interrupted before embed).
    first, first_dir = run_tiny(base, "stage1", ["stages=[preprocess,train_extractor]"])
    assert first["stages"]["train_extractor"]["reused"] is False
    previews = list((first_dir / "extractor" / "previews").glob("*.png"))  # written while stage 1 trains
    assert previews and previews[0].stat().st_size > 10_000
    media = _mtimes(base / "artifacts" / "demo_media")
    stage1 = _mtimes(base / "artifacts" / "faces") | _mtimes(base / "artifacts" / "extractor")

    # 2. The full command again: stage-1 work is reused, the rest runs.
    with caplog.at_level(logging.INFO):
        results, run_dir = run_tiny(base, "full")
    stages = results["stages"]
    assert stages["preprocess"]["demo"]["reused"] is True
    assert stages["train_extractor"]["reused"] is True
    assert _mtimes(base / "artifacts" / "demo_media") == media
    assert {p: t for p, t in stage1.items() if p.exists()} == stage1

    # Every scorer's AUC is there and better than chance (a sanity check; the figures go in the report).
    saved = json.loads((run_dir / "results.json").read_text())
    assert set(saved["stages"]) == {"preprocess", "train_extractor", "embed", "fit_head", "evaluate", "export"}
    export = stages["export"]  # the run ends with its bundle and the command that scores a clip with it
    assert export["bundle"] == str(run_dir / "bundle") and (run_dir / "bundle" / "manifest.json").is_file()
    assert export["onnx_max_abs_diff"] < 1e-4 and export["files"] == 15
    assert export["command"].startswith(f"python -m src.score bundle={run_dir / 'bundle'} video=")
    assert Path(export["command"].split("video=")[1]).is_file() and export["command"] in caplog.text
    aucs = {s: stages["evaluate"]["metrics"]["demo"][s]["auc"] for s in SCORERS}
    assert all(0.5 < a <= 1.0 for a in aucs.values()), aucs
    assert stages["evaluate"]["n_test_videos"] == 16
    table = (run_dir / "results.md").read_text()
    assert all(s in table for s in SCORERS)
    assert (run_dir / "roc_demo.png").stat().st_size > 10_000
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(offline.glob("run-*.wandb")) and (offline / "files").is_dir()
    # The sweep's target metric is what the run logs to W&B.
    summary = stages["evaluate"]["summary"]
    metric = load_sweep().metric["name"]
    assert logged_values(offline, metric) == [pytest.approx(summary[metric])]
    assert summary["evaluate/classifier_auc"] == pytest.approx(aucs["classifier"])

    # 3. The same command once more: faces, extractor and embeddings are all reused, nothing rebuilt.
    artifacts = _mtimes(base / "artifacts")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again, _ = run_tiny(base, "again")
    assert "reusing artifact embeddings/demo-" in caplog.text
    assert again["stages"]["train_extractor"]["reused"] is True
    assert _mtimes(base / "artifacts") == artifacts
    assert again["stages"]["evaluate"]["metrics"] == stages["evaluate"]["metrics"]
