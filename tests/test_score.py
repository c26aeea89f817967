"""src.score on real videos with a finished tiny demo run: scores, calibrated decisions, frames, timeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.cli import UsageError, parse_args
from data_modules.demo.video_io import write_video
from data_modules.sources.common import find_media
from src.api import Detector
from src.artifacts.embeddings import EmbeddingArtifact
from src.artifacts.keys import embedding_key
from src.artifacts.store import ArtifactStore
from src.models.differential.scorer import DifferentialDetector
from src.score import USAGE, ScoreArgs, main, score_videos
from tests.demo_run import finished_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        return finished_run(tmp_path_factory, mp)


def _csv_scores(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "scores.csv").open(newline="") as handle:
        return {row["video_id"]: row for row in csv.DictReader(handle)}


def test_scoring_videos_matches_the_evaluation_and_decides_at_the_calibrated_fpr(run_dir, tmp_path) -> None:
    media = run_dir.parent / "artifacts" / "demo_media_tiny"
    splits = json.loads((media / "splits.json").read_text())
    chosen = [next(p for p, s in splits.items() if p.startswith("fake/") and s == "test"),
              next(p for p, s in splits.items() if p.startswith("real/") and s == "test")]
    folder = tmp_path / "suspects"
    folder.mkdir()
    for rel in chosen:
        (folder / Path(rel).name).symlink_to(media / rel)
    out = tmp_path / "scores"
    results = score_videos(ScoreArgs(video=folder, run=run_dir, fpr=0.05, timeline=True, out=out))
    assert len(results) == 2
    settings = json.loads((run_dir / "scorer.json").read_text())
    calibration = json.loads((run_dir / "calibration.json").read_text())
    expected = _csv_scores(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    table = EmbeddingArtifact.read(ArtifactStore(cfg.paths.artifact_dir).path("embeddings",
                                                                              embedding_key(cfg, cfg.data))).table
    detector = DifferentialDetector.load(run_dir)
    scorers = ["classifier", *settings["heads"], *(f"fusion_{h}" for h in settings["heads"])]
    by_name = {Path(r["video"]).stem: r for r in results}
    for rel in chosen:
        result = by_name[Path(rel).stem]
        saved = json.loads((out / f"{Path(rel).name}.json").read_text())
        assert saved["scores"] == pytest.approx(result["scores"])
        assert set(result["scores"]) == set(scorers) and all(v is not None for v in result["scores"].values())
        assert result["frames_used"] + len(result["frames_skipped"]) == result["frames_sampled"] == 8
        for name in scorers:
            threshold = calibration["scorers"][name]["thresholds"]["0.05"]
            assert result["decisions"][name] == {"fake": result["scores"][name] > threshold, "threshold": threshold}
        # Same frames, detector, crop and model as the embed stage, embeddings at the stored precision, pairs
        # seeded by frame numbers: the run's scorer on the stored embeddings gives the same scores.
        video_id = f"demo/{'landmark_swap' if rel.startswith('fake/') else 'real'}/raw/{Path(rel).stem}"
        assert result["scores"]["classifier"] == pytest.approx(float(expected[video_id]["classifier"]), abs=1e-6)
        video = table.video(video_id)
        assert result["timeline"]["frame_indices"] == video.frame_indices.tolist()
        stored = detector.score_video(video)
        for head in settings["heads"]:
            assert result["scores"][head] == pytest.approx(stored.scores[head], rel=1e-6, abs=1e-6)
        assert (out / f"{Path(rel).name}.timeline.png").stat().st_size > 5_000


def test_src_score_reproduces_scores_csv_for_every_test_video_and_scorer(run_dir, tmp_path) -> None:
    """evaluate (stored embeddings, dataset video ids) and src.score (the video files, file names) agree."""
    expected = _csv_scores(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    store = ArtifactStore(cfg.paths.artifact_dir)
    rows = [r for r in EmbeddingArtifact.read(store.path("embeddings", embedding_key(cfg, cfg.data))).rows
            if r.split == "test"]
    folder = tmp_path / "videos"
    folder.mkdir()
    for row in rows:
        (folder / Path(row.path).name).symlink_to(row.path)
    results = {Path(r["video"]).stem: r for r in score_videos(ScoreArgs(video=folder, run=run_dir, out=tmp_path / "o"))}
    assert len(results) == len(rows) == len(expected) >= 6  # 16 with insightface's photos installed
    scorers = [k for k in next(iter(expected.values())) if k in results[Path(rows[0].path).stem]["scores"]]
    assert len(scorers) == 7  # three heads, their fusions, the classifier
    for row in rows:
        got, want = results[Path(row.path).stem]["scores"], expected[row.video_id]
        for name in scorers:
            assert abs(got[name] - float(want[name])) <= 1e-6, (row.video_id, name, got[name], want[name])


def test_a_video_without_faces_reports_every_frame_skipped(run_dir, tmp_path) -> None:
    rng = np.random.default_rng(0)
    blank = tmp_path / "noise.mp4"
    write_video(blank, (rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(10)), fps=5)
    (result,) = score_videos(ScoreArgs(video=blank, run=run_dir, out=tmp_path / "out"))
    assert result["frames_used"] == 0 and result["scores"] == {} and result["decisions"] == {}
    assert result["reason"] == "no face found in any sampled frame"
    assert len(result["frames_skipped"]) == result["frames_sampled"] == 8
    assert {s["reason"] for s in result["frames_skipped"]} == {"no face"}


def test_bad_arguments_are_named(run_dir, tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match=r"fpr=0.2 was not calibrated .* choose one of \[0.01, 0.05\]"):
        Detector.from_run(run_dir).thresholds(0.2)
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        Detector.from_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_media(tmp_path / "missing.mp4")
    with pytest.raises(UsageError, match="missing run="):
        parse_args(ScoreArgs, ["video=a.mp4"], USAGE)
    with pytest.raises(UsageError, match="pass run= or bundle=, not both"):
        parse_args(ScoreArgs, ["video=a.mp4", "run=r", "bundle=b"], USAGE)
    with pytest.raises(UsageError, match="backend=onnx needs a bundle: export the run first with python -m src.export"):
        parse_args(ScoreArgs, ["video=a.mp4", "run=r", "backend=onnx"], USAGE)
    with pytest.raises(UsageError, match="fpr=high: expected float"):
        parse_args(ScoreArgs, ["video=a.mp4", "run=r", "fpr=high"], USAGE)
    with pytest.raises(SystemExit) as exit_info:
        main(["video=a.mp4", f"run={run_dir}", "speed=fast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith("error: unknown argument 'speed=fast'")


def test_a_folder_scores_past_a_bad_file_and_same_stem_files_keep_their_own_results(run_dir, tmp_path, capsys) -> None:
    media = run_dir.parent / "artifacts" / "demo_media_tiny"
    splits = json.loads((media / "splits.json").read_text())
    fake = next(p for p, s in splits.items() if p.startswith("fake/") and s == "test")
    real = next(p for p, s in splits.items() if p.startswith("real/") and s == "test")
    folder, out = tmp_path / "suspects", tmp_path / "out"
    folder.mkdir()
    (folder / "a_broken.mp4").write_bytes(b"not a video at all" * 100)  # sorts first: the rest must still go on
    (folder / "x.mp4").symlink_to(media / real)
    (folder / "x.avi").symlink_to(media / fake)  # same stem, other content
    with pytest.raises(SystemExit) as exit_info:
        main([f"video={folder}", f"run={run_dir}", f"out={out}", "timeline=true"])
    assert exit_info.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "1 of 3 videos" in err[0] and "a_broken.mp4" in err[0]
    broken = json.loads((out / "a_broken.mp4.json").read_text())
    assert broken["failed"] is True and broken["reason"] and broken["scores"] == {}
    x_mp4, x_avi = (json.loads((out / f"x.{ext}.json").read_text()) for ext in ("mp4", "avi"))
    assert Path(x_mp4["video"]).name == "x.mp4" and Path(x_avi["video"]).name == "x.avi"
    assert x_mp4["scores"]["classifier"] != x_avi["scores"]["classifier"]
    assert (out / "x.mp4.timeline.png").is_file() and (out / "x.avi.timeline.png").is_file()
    assert not (out / "x.json").exists()
