"""Stage `evaluate`: score every test video with every scorer, metrics per dataset and manipulation, reports.

Unscored videos: a video skipped by preprocessing, or with fewer than eval.min_frames embedded frames, has
no differential (head, fusion) score. It is excluded from those scorers' metrics but listed in results.md,
scores.csv and results.json; the classifier still scores it if it has at least one frame.

Seen reals: a test dataset whose reals are another dataset's originals (data config `reals_of`, e.g.
DeeperForensics-1.0's FF++ originals) loses the test reals the run trained on (src/evaluation/overlap.py),
counted in results.json (dropped_seen_reals) and logged.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

from omegaconf import DictConfig

from data_modules.perturb import Perturbation
from data_modules.records import STATUS_OK, IndexRow
from src.artifacts.embeddings import EmbeddingArtifact, read_embeddings
from src.artifacts.extractor import frame_embedder
from src.artifacts.perturbed import check_perturbable, perturbed_embeddings
from src.config import datasets_in_run
from src.evaluation.comparisons import paired_comparisons
from src.evaluation.groups import GroupMetrics, Thresholds, evaluation_groups, group_metrics, mean_dataset_auc
from src.evaluation.identities import IdentityLeakage, leakage_markdown, seen_identity_videos
from src.evaluation.intervals import BootstrapSettings
from src.evaluation.levels import LevelMetrics, sample_level_metrics
from src.evaluation.overlap import drop_seen_reals
from src.evaluation.plots import dataset_plots, plot_robustness
from src.evaluation.reports import (
    CalibrationRow,
    CalibrationSummary,
    log_to_wandb,
    plain,
    results_markdown,
    write_markdown,
    write_scores_csv,
)
from src.evaluation.robustness import group_name, perturbation_grid, robustness_markdown, robustness_points
from src.evaluation.videos import ScoredVideo
from src.models.differential.calibration import CLASSIFIER, Calibration, fusion_name
from src.models.differential.scorer import DifferentialDetector
from src.stages import RunContext
from src.utils.loggers import wandb_run
from src.utils.logging import get_logger

log = get_logger(__name__)


def score_row(detector: DifferentialDetector, embeddings: EmbeddingArtifact, row: IndexRow) -> ScoredVideo:
    """One test video scored, or left unscored with the reason (skipped by preprocessing, not embedded)."""
    video = ScoredVideo(row.video_id, row.label, row.dataset, row.manipulation, row.compression,
                        scores=dict.fromkeys(detector.scorer_names))
    if row.status != STATUS_OK:
        video.reason = f"preprocess: {row.reason or row.status}"
    elif row.video_id not in embeddings.table:
        video.reason = "no embedded frames"
    else:
        scored = detector.score_video(embeddings.table.video(row.video_id))
        video.scores.update(scored.scores)
        video.frame_scores, video.pair_scores = scored.frame_probs, scored.pair_scores
        video.num_frames, video.num_pairs, video.reason = scored.num_frames, len(scored.pairs), scored.reason
    return video


def calibration_summary(calibration: Calibration | None) -> CalibrationSummary | None:
    """The calibration facts results.md shows: scorers with a validation AUC entry and their fusion weights."""
    if calibration is None:
        return None
    rows = [CalibrationRow(name, cal.val_auc, calibration.fusion[name].weight if name in calibration.fusion else None)
            for name, cal in calibration.scorers.items() if cal.reference is not None]
    return CalibrationSummary(calibration.n_val_real, calibration.n_val_pseudo_fake, rows)


def calibrated_thresholds(calibration: Calibration | None) -> Thresholds:
    """scorer -> FPR key -> the threshold set on validation reals (empty without a calibration)."""
    return {} if calibration is None else {n: dict(c.thresholds) for n, c in calibration.scorers.items()}


def level_summary(levels: list[LevelMetrics]) -> dict[str, float]:
    """test_frame_auc/<dataset>/classifier and test_pair_auc/<dataset>/<head> for the loggers."""
    return {f"test_{m.level}_auc/{m.group}/{m.scorer}": m.auc for m in levels
            if "/" not in m.group and not math.isnan(m.auc)}


def sweep_summary(metrics: GroupMetrics, primary: str) -> dict[str, float]:
    """Mean dataset-level AUC of the primary head, its fusion and the classifier: the sweep's target metrics."""
    names = {"head_auc": primary, "fusion_auc": fusion_name(primary), "classifier_auc": CLASSIFIER}
    means = {key: mean_dataset_auc(metrics, scorer) for key, scorer in names.items()}
    return {f"evaluate/{key}": value for key, value in means.items() if value is not None}


def identity_leakage(ctx: RunContext, training: EmbeddingArtifact,
                     evaluated: dict[str, EmbeddingArtifact]) -> IdentityLeakage:
    """Test videos of the evaluated datasets whose identity the training dataset's train/val videos show."""
    tests = [r for artifact in evaluated.values() for r in artifact.rows if r.split == "test"]
    known, seen = seen_identity_videos(training.rows, tests)
    return IdentityLeakage(known, seen, bool(ctx.cfg.eval.get("exclude_seen_identities", False)))


def robustness_videos(ctx: RunContext, detector: DifferentialDetector, datasets: Sequence[DictConfig],
                      grid: Sequence[Perturbation], excluded: set[str]) -> list[ScoredVideo]:
    """Every test video under every perturbation of the grid, its dataset named by the group."""
    if any(not p.is_identity for p in grid):
        for data in datasets:
            check_perturbable(data)
    embedder = cache(lambda: frame_embedder(ctx.store, ctx.cfg))  # loaded once, only if something is embedded
    videos = []
    for data in datasets:
        for perturbation in grid:
            embeddings = perturbed_embeddings(ctx.store, ctx.cfg, data, perturbation, embedder)
            group = group_name(data.name, perturbation)
            videos += [score_row(detector, embeddings, dataclasses.replace(row, dataset=group))
                       for row in embeddings.rows if row.split == "test" and row.video_id not in excluded]
    return videos


def robustness_report(ctx: RunContext, clean: GroupMetrics, videos: list[ScoredVideo], datasets: list[str],
                      grid: Sequence[Perturbation], scorers: list[str], bootstrap: BootstrapSettings,
                      thresholds: Thresholds) -> tuple[GroupMetrics, str, list[dict[str, Any]]]:
    """Whole-dataset metrics of each perturbed group, the results.md section, the points; and the plots."""
    ev = ctx.cfg.eval
    whole = {g: mask for g, mask in evaluation_groups(videos).items() if "/" not in g}
    metrics = group_metrics(videos, scorers, [float(t) for t in ev.fpr_targets], bool(ev.reference_metric),
                            bootstrap, thresholds, whole)
    points = robustness_points({**clean, **metrics}, datasets, grid, scorers)
    if ev.plots:
        for dataset in datasets:
            plot_robustness(ctx.run_dir / f"robustness_{dataset}.png", dataset, points, scorers)
    return metrics, robustness_markdown(points, scorers), [dataclasses.asdict(p) for p in points]


def run(ctx: RunContext) -> dict[str, Any]:
    """Score the test split of every evaluated dataset; write results.md, scores.csv, plots, W&B tables."""
    cfg, ev = ctx.cfg, ctx.cfg.eval
    detector = DifferentialDetector.load(ctx.run_dir)
    scorers = detector.scorer_names
    datasets = [d for d in datasets_in_run(cfg) if ev.include_train_dataset or d.name != cfg.data.name]
    if not datasets:
        raise ValueError("nothing to evaluate: set eval.include_train_dataset=true or add test_data entries")
    evaluated = {data.name: read_embeddings(ctx.store, cfg, data) for data in datasets}
    training = evaluated.get(cfg.data.name) or read_embeddings(ctx.store, cfg, cfg.data)
    leakage = identity_leakage(ctx, training, evaluated)
    excluded = {v.video_id for v in leakage.seen} if leakage.excluded else set()
    videos, dropped = [], {}
    for data in datasets:
        embeddings = evaluated[data.name]
        rows = [row for row in embeddings.rows if row.split == "test" and row.video_id not in excluded]
        if data.get("reals_of") == cfg.data.adapter and data.name != cfg.data.name:
            seen = drop_seen_reals(rows, training.rows)
            rows, dropped[data.name] = seen.kept, len(seen.dropped)
            log.info("evaluate %s: %d of its test reals are %s originals this run trained on (train/val split of "
                     "'%s'); left out of the test set, e.g. %s", data.name, len(seen.dropped), cfg.data.adapter,
                     cfg.data.name, seen.dropped[:3])
        videos += [score_row(detector, embeddings, row) for row in rows]
    if not videos:
        dropped = f" ({len(excluded)} excluded by eval.exclude_seen_identities=true)" if excluded else ""
        raise ValueError(f"no test videos in {[d.name for d in datasets]}{dropped}: check the datasets' test splits")
    bootstrap = BootstrapSettings(int(ev.bootstrap.resamples), int(ev.bootstrap.seed), float(ev.bootstrap.confidence))
    thresholds = calibrated_thresholds(detector.calibration)
    groups = evaluation_groups(videos)
    metrics = group_metrics(videos, scorers, [float(t) for t in ev.fpr_targets], bool(ev.reference_metric),
                            bootstrap, thresholds, groups)
    levels = sample_level_metrics(videos, groups, CLASSIFIER, list(detector.heads), thresholds)
    primary = detector.settings.primary
    datasets_only = {g: mask for g, mask in groups.items() if "/" not in g}
    comparisons = paired_comparisons(videos, datasets_only, scorers, primary, bootstrap.confidence)
    unscored = [v for v in videos if v.reason]
    grid = perturbation_grid(ev.get("perturbations"))
    perturbed = robustness_videos(ctx, detector, datasets, grid, excluded)
    robust, robust_table, robust_points = robustness_report(
        ctx, metrics, perturbed, [d.name for d in datasets], grid, scorers, bootstrap, thresholds
    ) if perturbed else ({}, "", [])
    write_scores_csv(ctx.run_dir / "scores.csv", videos + perturbed, scorers)
    table = results_markdown(f"Results: {cfg.task_name}", metrics, scorers, unscored,
                             calibration_summary(detector.calibration), CLASSIFIER, levels, comparisons, bootstrap)
    table += robust_table + leakage_markdown(leakage)
    write_markdown(ctx.run_dir / "results.md", table)
    images = dataset_plots(ctx.run_dir, videos, scorers, bootstrap, [primary, CLASSIFIER]) if ev.plots else []
    images += sorted(ctx.run_dir.glob("robustness_*.png")) if perturbed and ev.plots else []
    run = wandb_run(ctx.loggers)
    if run is not None:
        log_to_wandb(run, {**metrics, **robust}, videos + perturbed, scorers, images, levels, comparisons)
    summary = sweep_summary(metrics, primary)
    ctx.log_metrics({**summary, **level_summary(levels),
                     **{f"test_auc/{g}/{s}": m["auc"] for g, by in {**metrics, **robust}.items()
                        for s, m in by.items() if "/" not in g and not math.isnan(m["auc"])}})
    log.info("results (also in %s):\n%s", ctx.run_dir / "results.md", table)
    return {"metrics": plain({**metrics, **robust}), "sample_level": plain(levels), "comparisons": plain(comparisons),
            "bootstrap": plain(bootstrap), "n_test_videos": len(videos), "n_unscored": len(unscored),
            "unscored": [{"video_id": u.video_id, "reason": u.reason} for u in unscored],
            "primary": primary, "summary": summary, "dropped_seen_reals": dropped, "robustness": robust_points,
            "identity_leakage": {"n_with_identities": leakage.n_with_identities, "n_seen": len(leakage.seen),
                                 "excluded": leakage.excluded,
                                 "videos": [dataclasses.asdict(v) for v in leakage.seen]}}
