"""Stage 2 end to end: embed (real tiny extractor, real face cache), fit_head and evaluate with real loggers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from data_modules.records import IndexRow
from src.artifacts.embeddings import EmbeddingArtifact, EmbeddingTable
from src.artifacts.keys import embedding_key, extractor_key, face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from src.models.differential.pairs import VideoEmbeddings
from src.models.differential.scorer import DifferentialDetector
from src.run import run_stages
from src.stages import RunContext
from tests.wandb_records import history_rows, offline_runs

D = 24


def _video(rng: np.random.Generator, vid: str, fake: bool, frames: int = 8) -> VideoEmbeddings:
    """Reals drift smoothly around an identity; fakes flicker in a few 'face region' dims. Logits overlap."""
    base = rng.standard_normal(D)
    emb = base + np.cumsum(0.05 * rng.standard_normal((frames, D)), axis=0)
    if fake:
        emb[:, :6] += 0.5 * rng.standard_normal((frames, 6))
    logits = rng.normal(0.3 if fake else -0.3, 1.0, frames)
    return VideoEmbeddings(vid, emb, logits, np.arange(frames) * 3)


def _row(vid: str, split: str, label: int, frames: int, status: str = "ok", reason: str = "") -> IndexRow:
    dataset, manip, comp, name = vid.split("/")
    return IndexRow(video_id=vid, label=label, dataset=dataset, manipulation=manip, compression=comp,
                    split=split, num_frames=frames, status=status, reason=reason, path=f"/x/{vid}", target_id=name)


def write_synthetic_embeddings(store: ArtifactStore, key: str, val: int = 8) -> dict[str, list[str]]:
    """An embedding artifact as the embed stage writes it: train/val reals, test reals+fakes, odd cases."""
    rng = np.random.default_rng(0)
    videos, pseudo, rows = [], [], []
    for split, n in (("train", 30), ("val", val), ("test", 12)):
        for i in range(n):
            vid = f"demo/real/raw/{split}{i:02d}"
            videos.append(_video(rng, vid, fake=False))
            rows.append(_row(vid, split, 0, 8))
            if split == "val":
                pseudo.append(_video(rng, vid, fake=True))
    for i in range(12):
        vid = f"demo/swap/raw/fake{i:02d}"
        videos.append(_video(rng, vid, fake=True))
        rows.append(_row(vid, "test", 1, 8))
    videos.append(_video(rng, "demo/real/raw/short", fake=False, frames=1))
    rows.append(_row("demo/real/raw/short", "test", 0, 1))
    rows.append(_row("demo/swap/raw/noface", "test", 1, 0, "skipped", "no face in any frame"))
    with store.build("embeddings", key) as work:
        EmbeddingArtifact(EmbeddingTable.from_videos(videos, D), rows, EmbeddingTable.from_videos(pseudo, D)).write(work)
    return {"test": sorted(r.video_id for r in rows if r.split == "test")}


def _cfg(tmp_path: Path, *extra: str):
    return compose_config(["experiment=demo_tiny", f"paths.artifact_dir={tmp_path / 'artifacts'}",
                           "logger=wandb_offline", *extra], output_dir=tmp_path / "run")


def test_fit_head_and_evaluate_write_every_report(tmp_path):
    # small data: Deep SVDD needs more, smaller steps than its FF++-sized defaults
    cfg = _cfg(tmp_path, "stages=[fit_head,evaluate]", "head=deep_svdd", "head.batch_size=32", "head.epochs=40",
               "head.lr_milestones=[30]")
    store = ArtifactStore(cfg.paths.artifact_dir)
    ids = write_synthetic_embeddings(store, embedding_key(cfg, cfg.data))
    results = run_stages(cfg)
    run_dir = tmp_path / "run"

    fit = results["stages"]["fit_head"]
    assert fit["train_videos"] == 30 and fit["train_pairs"] == 30 * 4  # 8 frames: pool 4, 4 pairs per video
    assert list(fit["fit_seconds"]) == ["deep_svdd", "gmm", "ocsvm"]  # cfg.head first, then the others
    assert fit["val_real_videos"] == 8 and fit["val_pseudo_fake_videos"] == 8
    cal = json.loads((run_dir / "calibration.json").read_text())
    assert set(cal["scorers"]) >= {"gmm", "classifier", "fusion_gmm"} and 0 <= cal["fusion"]["gmm"]["weight"] <= 1
    assert cal["thresholds_from_training_reals"] is False
    assert results["stages"]["fit_head"]["val_auc"]["deep_svdd"] > 0.9  # val reals vs their pseudo-fakes
    assert len(cal["scorers"]["gmm"]["reference"]) == 16 and set(cal["scorers"]["gmm"]["thresholds"]) == {"0.01", "0.05"}
    for head in ("gmm", "deep_svdd", "ocsvm"):
        assert (run_dir / "heads" / head / "head.safetensors").is_file()

    ev = results["stages"]["evaluate"]
    demo = ev["metrics"]["demo"]
    assert demo["gmm"]["auc"] > 0.9 and demo["deep_svdd"]["auc"] > 0.9  # fakes are temporally inconsistent
    assert demo["gmm"]["n_real"] == 12 and demo["gmm"]["n_fake"] == 12 and demo["gmm"]["n_unscored"] == 2
    assert demo["classifier"]["n_real"] == 13  # the 1-frame video is still scored by the classifier
    assert "demo/swap/raw" in ev["metrics"]
    assert {u["video_id"] for u in ev["unscored"]} == {"demo/real/raw/short", "demo/swap/raw/noface"}
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["stages"]["evaluate"]["n_test_videos"] == len(ids["test"]) == 26

    with (run_dir / "scores.csv").open() as handle:
        table = {r["video_id"]: r for r in csv.DictReader(handle)}
    assert sorted(table) == ids["test"]
    assert table["demo/swap/raw/noface"]["reason"] == "preprocess: no face in any frame"
    assert table["demo/real/raw/short"]["gmm"] == "" and table["demo/real/raw/short"]["classifier"] != ""
    md = (run_dir / "results.md").read_text()
    assert "| demo |" in md and "ref. thresholded" in md and "demo/real/raw/short" in md and "fusion_gmm" in md
    for name in ("roc_demo.png", "hist_demo.png"):
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    detector = DifferentialDetector.load(run_dir)
    stored = EmbeddingArtifact.read(store.path("embeddings", embedding_key(cfg, cfg.data)))
    out = detector.score_video(stored.table.video("demo/swap/raw/fake03"))
    assert float(table["demo/swap/raw/fake03"]["gmm"]) == pytest.approx(out.scores["gmm"], rel=1e-5)
    assert len(out.pair_scores["gmm"]) == len(out.pairs) == 4 and "0.05" in str(out.decisions["gmm"])

    rows = history_rows(offline_runs(run_dir)[0])
    types = {k.rsplit("/", 1)[0]: v for row in rows for k, v in row.items() if k.endswith("/_type")}
    assert types["eval/metrics"] == types["eval/video_scores"] == "table-file"
    assert types["eval/sample_level_metrics"] == types["eval/comparisons"] == "table-file"
    path = next(row["eval/sample_level_metrics/path"] for row in rows if "eval/sample_level_metrics/path" in row)
    logged_table = json.loads((offline_runs(run_dir)[0] / "files" / path).read_text())
    frame_row = dict(zip(logged_table["columns"], logged_table["data"][0], strict=True))
    assert (frame_row["group"], frame_row["scorer"], frame_row["level"]) == ("demo", "classifier", "frame")
    # frame- and pair-level AUCs reach W&B as the same numbers results.json holds
    levels = {(m["level"], m["group"], m["scorer"]): m for m in ev["sample_level"]}
    logged = {k: v for row in rows for k, v in row.items() if k.startswith(("test_frame_auc/", "test_pair_auc/"))}
    assert logged == {f"test_{lv}_auc/{g}/{s}": pytest.approx(m["auc"]) for (lv, g, s), m in levels.items()
                      if "/" not in g}
    assert set(logged) == {"test_frame_auc/demo/classifier", *(f"test_pair_auc/demo/{h}" for h in fit["fit_seconds"])}
    assert levels[("frame", "demo", "classifier")]["n_real"] == 12 * 8 + 1  # every frame, the 1-frame video too
    assert frame_row["auc"] == pytest.approx(levels[("frame", "demo", "classifier")]["auc"])
    assert demo["gmm"]["auc_lo"] <= demo["gmm"]["auc"] <= demo["gmm"]["auc_hi"]
    assert f"{demo['classifier']['auc']:.4f} [{demo['classifier']['auc_lo']:.4f}, " in md
    assert {(c["scorer"], c["reference"]) for c in ev["comparisons"]} == {
        (s, "deep_svdd") for s in ("gmm", "ocsvm", "classifier", "fusion_deep_svdd", "fusion_gmm", "fusion_ocsvm")}
    assert types["eval/roc_demo"] == types["eval/hist_demo"] == "image-file"


def test_without_validation_reals_thresholds_fall_back_to_training_reals_and_say_so(tmp_path, caplog):
    cfg = _cfg(tmp_path, "stages=[fit_head]", "logger=none", "eval.compare_heads=false", "head=ocsvm")
    store = ArtifactStore(cfg.paths.artifact_dir)
    write_synthetic_embeddings(store, embedding_key(cfg, cfg.data), val=0)
    with caplog.at_level("WARNING"):
        fit = run_stages(cfg)["stages"]["fit_head"]
    assert fit["val_real_videos"] == 30 and fit["val_pseudo_fake_videos"] == 0
    assert any("no validation real videos" in r.message and "30 training reals" in r.message for r in caplog.records)
    cal = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert cal["thresholds_from_training_reals"] is True and cal["reference_split"] == "train"
    detector = DifferentialDetector.load(tmp_path / "run")
    train = [v for v in EmbeddingArtifact.read(store.path("embeddings", embedding_key(cfg, cfg.data))).table.videos()
             if "/train" in v.video_id]
    scores = np.sort([detector.score_video(v).scores["ocsvm"] for v in train])
    assert cal["scorers"]["ocsvm"]["reference"] == pytest.approx(scores.tolist())
    assert cal["scorers"]["ocsvm"]["thresholds"]["0.05"] == pytest.approx(np.quantile(scores, 0.95, method="higher"))
    assert detector.calibration.on_training_reals


def test_test_reals_that_are_originals_the_run_trained_on_are_dropped_and_counted(tmp_path, caplog):
    """DeeperForensics-1.0's reals are FF++ originals (data config reals_of): a test real whose original is a
    train or val real of the training dataset leaves the test set, counted and logged."""
    other = "+test_data.dfr={name: dfr, adapter: deeperforensics, reals_of: demo, root: /x, frames_per_video: 8, options: {}}"
    cfg = _cfg(tmp_path, "stages=[fit_head,evaluate]", "logger=none", "eval.compare_heads=false", "head=ocsvm",
               "eval.plots=false", other)
    store = ArtifactStore(cfg.paths.artifact_dir)
    write_synthetic_embeddings(store, embedding_key(cfg, cfg.data))
    rng = np.random.default_rng(1)
    originals = ["train00", "train07", "val03", "test01", "unseen0", "unseen1"]  # demo's train/val/test reals
    rows = [_row(f"dfr/real/c23/{o}", "test", 0, 8) for o in originals]
    rows += [_row(f"dfr/end_to_end/raw/{o}_M1", "test", 1, 8) for o in originals]
    videos = [_video(rng, r.video_id, fake=r.label == 1) for r in rows]
    with store.build("embeddings", embedding_key(cfg, cfg.test_data.dfr)) as work:
        EmbeddingArtifact(EmbeddingTable.from_videos(videos, D), rows).write(work)
    with caplog.at_level("INFO"):
        ev = run_stages(cfg)["stages"]["evaluate"]
    assert ev["dropped_seen_reals"] == {"dfr": 3}
    assert ev["metrics"]["dfr"]["ocsvm"]["n_real"] == 3 and ev["metrics"]["dfr"]["ocsvm"]["n_fake"] == 6
    assert ev["metrics"]["demo"]["ocsvm"]["n_real"] == 12  # the training dataset's own test set is untouched
    with (tmp_path / "run" / "scores.csv").open() as handle:
        tested = {r["video_id"] for r in csv.DictReader(handle) if r["dataset"] == "dfr" and r["label"] == "0"}
    assert tested == {"dfr/real/c23/test01", "dfr/real/c23/unseen0", "dfr/real/c23/unseen1"}
    assert any("dfr: 3 of its test reals are demo originals this run trained on" in r.message for r in caplog.records)


def test_fit_head_is_deterministic_and_needs_embeddings(tmp_path):
    cfg = _cfg(tmp_path, "stages=[fit_head]", "logger=none", "eval.compare_heads=false", "head=ocsvm")
    with pytest.raises(FileNotFoundError, match="run the 'embed' stage"):
        run_stages(cfg)
    write_synthetic_embeddings(ArtifactStore(cfg.paths.artifact_dir), embedding_key(cfg, cfg.data))
    first = run_stages(cfg)["stages"]["fit_head"]
    cal1 = (tmp_path / "run" / "calibration.json").read_text()
    second = run_stages(cfg)["stages"]["fit_head"]
    assert list(first["fit_seconds"]) == ["ocsvm"] and first["val_auc"] == second["val_auc"]
    assert (tmp_path / "run" / "calibration.json").read_text() == cal1


def test_embed_stage_with_a_real_extractor_and_face_cache(tmp_path, monkeypatch):
    from data_modules.blending import crop_face
    from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet, save_extractor
    from src.stages import embed
    from tests.fixtures_faces import write_face_cache

    cfg = _cfg(tmp_path, "logger=none", "data.name=toy", "eval.embed_batch_size=4")
    store = ArtifactStore(cfg.paths.artifact_dir)
    with store.build("faces", face_cache_key(cfg.data, cfg.face)) as root:
        write_face_cache(root, {"a": "train", "b": "val", "c": "test"}, frames_per_video=3, size=96)
    torch.manual_seed(0)
    spec = ExtractorSpec(backbone={"name": "test_efficientnet", "pretrained": False, "weights_file": None,
                                   "image_size": 32, "drop_rate": 0.0}, image_size=32, mean=[0.5] * 3, std=[0.5] * 3)
    model = FeatureExtractorNet.build(spec).eval()
    with store.build("extractor", extractor_key(cfg)) as out:
        save_extractor(model, out)
    ctx = RunContext(cfg=cfg, run_dir=tmp_path / "run", store=store)
    summary = embed.run(ctx)["toy"]
    assert summary["videos"] == 3 and summary["frames"] == 9 and summary["pseudo_fake_videos"] == 1

    art = EmbeddingArtifact.read(store.path("embeddings", embedding_key(cfg, cfg.data)))
    table = art.table
    assert table.embeddings.dtype == np.float32 and table.embeddings.shape == (9, model.embed_dim)
    video = table.video("toy/real/raw/b")
    emb, logits = video.embeddings, video.logits
    assert video.frame_indices.tolist() == [0, 5, 10]
    from data_modules.cache import FaceCache

    cache = FaceCache(store.path("faces", face_cache_key(cfg.data, cfg.face)))
    lm = cache.read_faces("toy/real/raw/b").landmarks[1]
    crop = crop_face(cache.read_crop("toy/real/raw/b", 1), lm, 32)[0]
    x = (torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        want_logit, want_emb = model(x)
    assert logits[1] == pytest.approx(float(want_logit), abs=1e-4)
    np.testing.assert_allclose(emb[1], want_emb[0].numpy(), rtol=1e-4, atol=1e-5)  # batch of 4 vs of 1
    assert art.pseudo.video_ids.tolist() == ["toy/real/raw/b"]
    assert not np.allclose(art.pseudo.video("toy/real/raw/b").embeddings, emb, atol=1e-3)

    def refuse(*args, **kwargs):
        raise AssertionError("embeddings were recomputed")

    monkeypatch.setattr("src.stages.embed.frame_embedder", refuse)
    assert embed.run(ctx)["toy"]["key"] == embedding_key(cfg, cfg.data)  # reused, not rebuilt
