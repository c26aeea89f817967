"""Robustness evaluation (eval.perturbations) and the identity leakage check: the grid, the table and the plot
on given metrics; then on the tiny demo run, perturbed groups scored from their own (reused) face caches."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.records import STATUS_OK, IndexRow
from data_modules.sources import list_videos
from src.evaluation.identities import IdentityLeakage, leakage_markdown, seen_identity_videos
from src.evaluation.plots import plot_robustness
from src.evaluation.robustness import perturbation_grid, robustness_markdown, robustness_points
from tests.demo_run import run_tiny

SCORERS = ["classifier", "gmm"]


def test_grid_lists_each_kind_and_severity_in_order_and_names_bad_entries() -> None:
    grid = perturbation_grid([{"kind": "jpeg", "severities": [1, 3]}, {"kind": "h264", "severities": [0, 5]}])
    assert [p.key for p in grid] == ["jpeg-1", "jpeg-3", "h264-0", "h264-5"]
    assert perturbation_grid(None) == [] and perturbation_grid([]) == []
    with pytest.raises(ValueError, match=r"eval.perturbations\[0\].*exactly the keys kind and severities"):
        perturbation_grid([{"kind": "jpeg", "severity": 1}])
    with pytest.raises(ValueError, match=r"severities = 3 must be a non-empty list"):
        perturbation_grid([{"kind": "jpeg", "severities": 3}])
    with pytest.raises(ValueError, match="unknown perturbation kind 'gamma'; valid choices: .*h264"):
        perturbation_grid([{"kind": "gamma", "severities": [1]}])
    with pytest.raises(ValueError, match="severity 6 of 'blur' is out of range"):
        perturbation_grid([{"kind": "blur", "severities": [6]}])
    with pytest.raises(ValueError, match="lists noise-2 twice"):
        perturbation_grid([{"kind": "noise", "severities": [2]}, {"kind": "noise", "severities": [2]}])


def _metrics(aucs: dict[str, float]) -> dict:
    return {g: {s: {"auc": a - 0.1 * i} for i, s in enumerate(SCORERS)} for g, a in aucs.items()}


def test_points_start_at_the_clean_group_and_the_table_and_plot_show_every_point(tmp_path) -> None:
    grid = perturbation_grid([{"kind": "blur", "severities": [5, 2]}, {"kind": "jpeg", "severities": [0, 4]}])
    metrics = _metrics({"demo": 0.9, "demo@blur-2": 0.8, "demo@blur-5": 0.6, "demo@jpeg-0": 0.9,
                        "demo@jpeg-4": 0.7, "demo/swap/raw": 0.95})
    metrics["demo@jpeg-4"]["gmm"]["auc"] = math.nan  # a group without both classes
    points = robustness_points(metrics, ["demo"], grid, SCORERS)
    assert [(p.kind, p.severity, p.group) for p in points] == [
        ("blur", 0, "demo"), ("blur", 2, "demo@blur-2"), ("blur", 5, "demo@blur-5"),
        ("jpeg", 0, "demo@jpeg-0"), ("jpeg", 4, "demo@jpeg-4")]
    assert points[2].auc == pytest.approx({"classifier": 0.6, "gmm": 0.5}) and points[2].parameter == 3.5
    assert points[4].auc["gmm"] is None and points[4].parameter == 10
    table = robustness_markdown(points, SCORERS)
    assert "| demo@blur-5 | blur | 5 | 3.5 | 0.6000 | 0.5000 |" in table
    assert "| demo@jpeg-4 | jpeg | 4 | 10 | 0.7000 | – |" in table
    assert "| demo | blur | 0 | – | 0.9000 | 0.8000 |" in table
    path = tmp_path / "robustness_demo.png"
    plot_robustness(path, "demo", points, SCORERS)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def _touch(root: Path, *relatives: str) -> None:
    for relative in relatives:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"x")


def test_seen_identities_on_a_generated_ffpp_tree(tmp_path) -> None:
    """Test pair (006, 000) shares identity 000 with the training pair (000, 003); DFD actors are their own ids."""
    root = tmp_path / "FaceForensics++"
    splits = {"train": [["000", "003"]], "val": [["001", "002"]], "test": [["004", "005"], ["006", "000"]]}
    for split, pairs in splits.items():
        _touch(root, f"splits/{split}.json")
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    _touch(root, *[f"original_sequences/youtube/c23/videos/{i:03d}.mp4" for i in range(7)])
    fakes = ["000_003", "003_000", "001_002", "002_001", "004_005", "005_004", "006_000", "000_006"]
    _touch(root, *[f"manipulated_sequences/Deepfakes/c23/videos/{f}.mp4" for f in fakes])
    _touch(root, "original_sequences/actors/c23/videos/01__walk.mp4",
           "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walk__AB.mp4")
    data = OmegaConf.create({"name": "ffpp", "adapter": "ffpp", "root": str(root), "frames_per_video": 4,
                             "options": {"manipulations": ["Deepfakes", "DeepFakeDetection"]}})
    rows = [IndexRow.from_record(r, 4, STATUS_OK) for r in list_videos(data)]
    tests = [r for r in rows if r.split == "test"]
    known, seen = seen_identity_videos(rows, tests)
    assert known == len(tests) == 10
    assert {(v.video_id, v.identities) for v in seen} == {
        ("ffpp/real/c23/000", ("000",)), ("ffpp/Deepfakes/c23/006_000", ("000",)),
        ("ffpp/Deepfakes/c23/000_006", ("000",))}
    # the same ids in another dataset's rows are another person
    assert seen_identity_videos([r for r in rows if r.split != "test"],
                                [IndexRow(**{**vars(tests[0]), "dataset": "other"})])[1] == []
    text = leakage_markdown(IdentityLeakage(known, seen, excluded=False))
    assert "(3 of 10 test videos with identities)" in text and "| ffpp/Deepfakes/c23/006_000 | 000 |" in text
    assert "eval.exclude_seen_identities=true drops them" in text
    assert "give no identities" in leakage_markdown(IdentityLeakage(0, [], excluded=False))


PERTURBATIONS = "eval.perturbations=[{kind:jpeg,severities:[0,5]},{kind:h264,severities:[5]}]"


def _scores(run_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run_dir / "scores.csv").open(newline="") as handle:
        return {(r["dataset"], r["video_id"]): r for r in csv.DictReader(handle)}


def _perturbed_caches(artifacts: Path) -> dict[str, dict[Path, int]]:
    """perturbation -> mtimes of its face-cache files."""
    out = {}
    for marker in (artifacts / "faces").glob("*/_COMPLETE.json"):
        perturbation = json.loads(marker.read_text())["face"].get("perturbation")
        if perturbation:
            out[perturbation] = {p: p.stat().st_mtime_ns for p in marker.parent.rglob("*") if p.is_file()}
    return out


@pytest.mark.slow
def test_perturbed_groups_on_the_tiny_demo_then_reused(tiny_run, monkeypatch, caplog) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    base = tiny_run.parent
    clean = json.loads((tiny_run / "results.json").read_text())["stages"]["evaluate"]
    results, run_dir = run_tiny(base, "robust", ["stages=[fit_head,evaluate]", PERTURBATIONS])
    ev = results["stages"]["evaluate"]
    groups = [g for g in ev["metrics"] if "@" in g]
    assert sorted(groups) == ["demo@h264-5", "demo@jpeg-0", "demo@jpeg-5"]
    for g in groups:  # every scorer on every test video under every perturbation
        assert {s: m["n_real"] + m["n_fake"] for s, m in ev["metrics"][g].items()} == {
            s: m["n_real"] + m["n_fake"] for s, m in clean["metrics"]["demo"].items()}
    scores = _scores(run_dir)
    test_ids = sorted(v for d, v in scores if d == "demo")
    assert len(test_ids) == 16
    for scorer in ev["metrics"]["demo"]:  # severity 0 is the clean video, bit for bit
        assert [scores["demo@jpeg-0", v][scorer] for v in test_ids] == [scores["demo", v][scorer] for v in test_ids]
        assert ev["metrics"]["demo@jpeg-0"][scorer]["auc"] == ev["metrics"]["demo"][scorer]["auc"]
    for group in ("demo@jpeg-5", "demo@h264-5"):  # real degradations move every classifier score
        moved = [float(scores[group, v]["classifier"]) - float(scores["demo", v]["classifier"]) for v in test_ids]
        assert np.all(np.abs(moved) > 1e-6), group
    table = (run_dir / "results.md").read_text()
    assert "## Robustness: ROC-AUC under test-time perturbations" in table
    assert "| demo@h264-5 | h264 | 5 | 40 |" in table and "| demo@jpeg-0 | jpeg | 0 | – |" in table
    points = {(p["kind"], p["severity"]): p for p in ev["robustness"]}
    assert set(points) == {("jpeg", 0), ("jpeg", 5), ("h264", 0), ("h264", 5)}
    assert points["h264", 0]["group"] == "demo" and points["h264", 5]["auc"]["classifier"] == pytest.approx(
        ev["metrics"]["demo@h264-5"]["classifier"]["auc"])
    plot = run_dir / "robustness_demo.png"
    assert plot.read_bytes()[:4] == b"\x89PNG" and plot.stat().st_size > 10_000
    # perturbed face caches: artifacts keyed by the perturbation, test videos only; severity 0 uses the clean one
    caches = _perturbed_caches(base / "artifacts")
    assert set(caches) == {"jpeg-5", "h264-5"}
    for files in caches.values():
        index = next(p for p in files if p.name == "index.csv")
        with index.open(newline="") as handle:
            assert {r["split"] for r in csv.DictReader(handle)} == {"test"}

    with caplog.at_level(logging.INFO):  # a rerun rebuilds nothing and scores the same
        again, again_dir = run_tiny(base, "robust_again", ["stages=[fit_head,evaluate]", PERTURBATIONS])
    assert _perturbed_caches(base / "artifacts") == caches
    assert caplog.text.count("reusing it") >= 2 and "built artifact embeddings" not in caplog.text
    assert again["stages"]["evaluate"]["metrics"] == ev["metrics"]


@pytest.mark.slow
def test_identity_leakage_of_the_tiny_demo_listed_and_excluded(tiny_run, monkeypatch) -> None:
    """Every demo person has training clips, so every test video is listed, and excluding them leaves none."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    ev = json.loads((tiny_run / "results.json").read_text())["stages"]["evaluate"]
    leakage = ev["identity_leakage"]
    assert leakage["n_with_identities"] == leakage["n_seen"] == ev["n_test_videos"] == 16
    assert leakage["excluded"] is False and len(leakage["videos"]) == 16
    fake = next(v for v in leakage["videos"] if "/landmark_swap/" in v["video_id"])
    source, target = Path(fake["video_id"]).name.split("_to_")
    assert fake["identities"] == sorted([source, target])
    assert "## Identity leakage (16 of 16 test videos with identities)" in (tiny_run / "results.md").read_text()
    with pytest.raises(ValueError, match=r"\(16 excluded by eval.exclude_seen_identities=true\)"):
        run_tiny(tiny_run.parent, "exclude", ["stages=[fit_head,evaluate]", "eval.exclude_seen_identities=true"])

