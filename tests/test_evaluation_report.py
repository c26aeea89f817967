"""What evaluate reports beside the video AUC: bootstrap intervals, accuracy at calibrated thresholds, frame- and
pair-level metrics against scikit-learn, DeLong comparisons, and how results.md / results.json show them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, balanced_accuracy_score, roc_auc_score

from src.evaluation.comparisons import paired_comparisons
from src.evaluation.delong import delong_test
from src.evaluation.groups import evaluation_groups, group_metrics
from src.evaluation.intervals import BootstrapSettings, bootstrap_auc_interval, roc_band
from src.evaluation.levels import sample_level_metrics
from src.evaluation.metrics import equal_error_rate
from src.evaluation.plots import dataset_plots, roc_bands
from src.evaluation.reports import plain, results_markdown
from src.evaluation.videos import ScoredVideo

BOOT = BootstrapSettings(resamples=500, seed=7)
THRESHOLDS = {"gmm": {"0.05": 0.4}, "classifier": {"0.05": 0.55}}


def _videos(n_real: int = 20, n_fake: int = 20, seed: int = 0) -> list[ScoredVideo]:
    """Videos whose frame and pair scores are noisy around a per-video level; video scores are their means."""
    rng = np.random.default_rng(seed)
    videos = []
    for i in range(n_real + n_fake):
        label = int(i >= n_real)
        frames = (0.5 + 0.1 * label + 0.15 * rng.standard_normal(int(rng.integers(3, 7)))).tolist()
        pairs = {"gmm": (0.3 + 0.2 * label + 0.2 * rng.standard_normal(4)).tolist(),
                 "ocsvm": (0.3 + 0.1 * label + 0.2 * rng.standard_normal(4)).tolist()}
        scores = {"classifier": float(np.mean(frames)), **{h: float(np.mean(p)) for h, p in pairs.items()}}
        manip = "real" if label == 0 else ("swap" if i % 2 else "reenact")
        videos.append(ScoredVideo(f"ds/{manip}/raw/{i:02d}", label, "ds", manip, "raw", len(frames), 4,
                                  scores=scores, frame_scores=frames, pair_scores=pairs))
    return videos


def test_every_video_auc_has_a_seeded_interval_around_it() -> None:
    videos = _videos()
    metrics = group_metrics(videos, ["gmm", "classifier"], [0.05], False, BOOT, THRESHOLDS)
    for group, by in metrics.items():
        for scorer, m in by.items():
            assert m["auc_lo"] <= m["auc"] <= m["auc_hi"], (group, scorer, m)
            assert m["auc_hi"] - m["auc_lo"] > 0.0
    chosen = [v for v, keep in zip(videos, evaluation_groups(videos)["ds/swap/raw"], strict=True) if keep]
    direct = bootstrap_auc_interval(np.array([v.label for v in chosen]), np.array([v.scores["gmm"] for v in chosen]),
                                    seed=7, n_resamples=500)
    assert (metrics["ds/swap/raw"]["gmm"]["auc_lo"], metrics["ds/swap/raw"]["gmm"]["auc_hi"]) == (direct.lo, direct.hi)
    assert group_metrics(videos, ["gmm"], [0.05], False, BOOT) == group_metrics(videos, ["gmm"], [0.05], False, BOOT)


def test_a_group_with_one_real_video_has_no_interval_and_says_why() -> None:
    videos = _videos(n_real=1, n_fake=5)
    m = group_metrics(videos, ["gmm"], [0.05], False, BOOT)["ds"]["gmm"]
    assert not math.isnan(m["auc"]) and math.isnan(m["auc_lo"]) and math.isnan(m["auc_hi"])
    assert "needs 2 real and 2 fake" in m["auc_ci_note"]


def test_accuracy_at_the_calibrated_thresholds_matches_sklearn() -> None:
    videos = _videos()
    m = group_metrics(videos, ["gmm", "ocsvm"], [0.05], False, None, THRESHOLDS)["ds"]
    labels = np.array([v.label for v in videos])
    predicted = np.array([v.scores["gmm"] for v in videos]) > 0.4
    assert m["gmm"]["acc@fpr0.05"] == pytest.approx(accuracy_score(labels, predicted))
    assert m["gmm"]["bacc@fpr0.05"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert "acc@fpr0.05" not in m["ocsvm"] and "auc_lo" not in m["gmm"]  # no threshold / no bootstrap asked


def test_frame_and_pair_level_metrics_equal_sklearn_on_known_inputs() -> None:
    videos = _videos()
    levels = sample_level_metrics(videos, evaluation_groups(videos), "classifier", ["gmm", "ocsvm"], THRESHOLDS)
    by = {(m.group, m.scorer): m for m in levels}
    assert {m.level for m in levels if m.scorer == "classifier"} == {"frame"}
    frame_labels = np.concatenate([[v.label] * len(v.frame_scores) for v in videos])
    frames = np.concatenate([v.frame_scores for v in videos])
    frame = by[("ds", "classifier")]
    assert frame.auc == pytest.approx(roc_auc_score(frame_labels, frames))
    assert frame.ap == pytest.approx(average_precision_score(frame_labels, frames))
    assert frame.eer == pytest.approx(equal_error_rate(frame_labels, frames))
    assert (frame.n_real, frame.n_fake) == ((frame_labels == 0).sum(), (frame_labels == 1).sum())
    assert frame.acc["0.05"] == pytest.approx(accuracy_score(frame_labels, frames > 0.55))
    assert frame.bacc["0.05"] == pytest.approx(balanced_accuracy_score(frame_labels, frames > 0.55))
    pair_labels = np.repeat([v.label for v in videos], 4)
    for head in ("gmm", "ocsvm"):
        pairs = np.concatenate([v.pair_scores[head] for v in videos])
        assert by[("ds", head)].level == "pair"
        assert by[("ds", head)].auc == pytest.approx(roc_auc_score(pair_labels, pairs))
    assert by[("ds", "ocsvm")].acc == {}  # no calibrated threshold for it here
    swap = [v for v in videos if v.manipulation in ("real", "swap")]
    swap_frames = np.concatenate([v.frame_scores for v in swap])
    swap_labels = np.concatenate([[v.label] * len(v.frame_scores) for v in swap])
    assert by[("ds/swap/raw", "classifier")].auc == pytest.approx(roc_auc_score(swap_labels, swap_frames))


def test_paired_comparisons_are_delong_on_the_videos_both_scored() -> None:
    videos = _videos()
    videos[0].scores["ocsvm"] = None  # one real video the second head could not score
    groups = {"ds": evaluation_groups(videos)["ds"]}
    (gmm_vs, classifier_vs) = paired_comparisons(videos, groups, ["ocsvm", "gmm", "classifier"], "ocsvm")
    assert (gmm_vs.scorer, gmm_vs.reference, classifier_vs.scorer) == ("gmm", "ocsvm", "classifier")
    both = videos[1:]
    expected = delong_test(np.array([v.label for v in both]), np.array([v.scores["gmm"] for v in both]),
                           np.array([v.scores["ocsvm"] for v in both]))
    assert gmm_vs.test == expected and gmm_vs.test.n_real == 19
    few = _videos(n_real=1, n_fake=4)
    (lonely,) = paired_comparisons(few, {"ds": evaluation_groups(few)["ds"]}, ["gmm", "ocsvm"], "gmm")
    assert lonely.test is None and "needs 2 real and 2 fake" in lonely.note


def test_results_markdown_shows_intervals_and_json_stays_strict(tmp_path: Path) -> None:
    videos = _videos() + _videos(n_real=1, n_fake=3, seed=1)[:2]  # two extra videos: still both classes
    scorers = ["gmm", "ocsvm", "classifier"]
    metrics = group_metrics(videos, scorers, [0.05], False, BOOT, THRESHOLDS)
    groups = evaluation_groups(videos)
    levels = sample_level_metrics(videos, groups, "classifier", ["gmm", "ocsvm"], THRESHOLDS)
    comparisons = paired_comparisons(videos, {"ds": groups["ds"]}, scorers, "gmm")
    text = results_markdown("t", metrics, scorers, [], None, "classifier", levels, comparisons, BOOT)
    gmm = metrics["ds"]["gmm"]
    assert f"{gmm['auc']:.4f} [{gmm['auc_lo']:.4f}, {gmm['auc_hi']:.4f}]" in text
    assert "95% stratified bootstrap interval (500 resamples" in text and "seed 7" in text
    assert "| ds | classifier | frame |" in text and "| ds | gmm | pair |" in text
    assert "## Paired comparisons (DeLong)" in text and f"{comparisons[0].test.diff:+.4f} [" in text
    assert "bal. acc @val 0.05 FPR" in text
    few = group_metrics(_videos(n_real=1, n_fake=3), ["gmm"], [0.05], False, BOOT)
    (tmp_path / "r.json").write_text(json.dumps(plain({"m": few, "levels": levels, "c": comparisons}),
                                                allow_nan=False))
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["m"]["ds"]["gmm"]["auc_lo"] is None and saved["c"][0]["test"]["p_value"] == comparisons[0].test.p_value


@pytest.mark.slow
def test_the_demo_run_reports_ordered_intervals_frame_metrics_and_comparisons(tiny_run: Path) -> None:
    evaluate = json.loads((tiny_run / "results.json").read_text())["stages"]["evaluate"]
    assert evaluate["bootstrap"] == {"resamples": 1000, "seed": 0, "confidence": 0.95}
    demo = evaluate["metrics"]["demo"]
    for scorer, m in demo.items():
        assert m["auc_lo"] <= m["auc"] <= m["auc_hi"], (scorer, m)
    table = (tiny_run / "results.md").read_text()
    assert f"| demo | {demo['gmm']['auc']:.4f} [{demo['gmm']['auc_lo']:.4f}, {demo['gmm']['auc_hi']:.4f}] |" in table
    frame = next(m for m in evaluate["sample_level"] if (m["group"], m["level"]) == ("demo", "frame"))
    assert 0.0 <= frame["auc"] <= 1.0 and frame["n_real"] > demo["classifier"]["n_real"]
    assert {c["scorer"] for c in evaluate["comparisons"] if c["group"] == "demo"} == set(demo) - {evaluate["primary"]}


def test_roc_plots_shade_the_bands_of_the_chosen_scorers(tmp_path: Path) -> None:
    videos = _videos() + _videos(n_real=1, n_fake=2, seed=3)[:1]
    for v in videos[-1:]:
        v.dataset = "tiny"  # one real video only: no band possible
    labels = {s: np.array([v.label for v in videos if v.dataset == "ds"]) for s in ("gmm", "classifier")}
    scores = {s: np.array([v.scores[s] for v in videos if v.dataset == "ds"]) for s in ("gmm", "classifier")}
    bands = roc_bands(labels, scores, BOOT)
    direct = roc_band(labels["gmm"], scores["gmm"], seed=7, n_resamples=500)
    assert set(bands) == {"gmm", "classifier"} and np.array_equal(bands["gmm"].hi, direct.hi)
    assert roc_bands({"gmm": np.array([0, 1, 1])}, {"gmm": np.array([0.1, 0.2, 0.3])}, BOOT) == {}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    dataset_plots(tmp_path / "a", videos, ["gmm", "classifier"])
    paths = dataset_plots(tmp_path / "b", videos, ["gmm", "classifier"], BOOT, ["gmm"])
    assert [p.name for p in paths] == ["roc_ds.png", "hist_ds.png", "roc_tiny.png", "hist_tiny.png"]
    assert (tmp_path / "a/roc_ds.png").read_bytes() != (tmp_path / "b/roc_ds.png").read_bytes()
    assert (tmp_path / "a/hist_ds.png").read_bytes() == (tmp_path / "b/hist_ds.png").read_bytes()
