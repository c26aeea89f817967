"""Stage `evaluate`: score every test video with every scorer, metrics per dataset and manipulation, reports.

Unscored videos: a video skipped by preprocessing, or with fewer than eval.min_frames embedded frames, has
no differential (head, fusion) score. It is excluded from those scorers' metrics but listed in results.md,
scores.csv and results.json; the classifier still scores it if it has at least one frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from data_modules.pairs import EmbeddingTable, load_rows
from data_modules.records import STATUS_OK
from src.evaluation.groups import VideoInfo, evaluation_groups
from src.evaluation.metrics import detection_metrics
from src.evaluation.plots import plot_histograms, plot_roc
from src.evaluation.reports import log_to_wandb, results_markdown, write_markdown, write_scores_csv
from src.evaluation.run_scorer import CLASSIFIER, RunScorer, fusion_name
from src.stages import RunContext
from src.stages.embed import EMBEDDINGS_FILE, ROWS_FILE, embedding_dir
from src.stages.keys import datasets_in_run
from src.utils.loggers import wandb_run
from src.utils.logging import get_logger

log = get_logger(__name__)


def score_dataset(scorer: RunScorer, table: EmbeddingTable, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per test video of a dataset (skipped and short videos included, with a reason)."""
    records = []
    for row in (r for r in rows if r["split"] == "test"):
        vid = row["video_id"]
        rec = {k: row[k] for k in ("video_id", "dataset", "manipulation", "compression")}
        rec.update(label=int(row["label"]), num_frames=0, num_pairs=0, **dict.fromkeys(scorer.scorer_names))
        if row["status"] != STATUS_OK or vid not in table:
            rec["reason"] = f"preprocess: {row['reason'] or row['status']}" if row["status"] != STATUS_OK \
                else "no embedded frames"
        else:
            out = scorer.score_video(*table.video(vid), video_id=vid)
            rec.update(out["scores"], num_frames=out["num_frames"], num_pairs=len(out["pairs"]), reason=out["reason"])
        records.append(rec)
    return records


def group_metrics(records: list[dict[str, Any]], scorers: list[str], fpr_targets: list[float],
                  reference: bool) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> scorer -> metrics over the group's videos that this scorer could score."""
    infos = [VideoInfo(r["video_id"], r["label"], r["dataset"], r["manipulation"], r["compression"]) for r in records]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group, mask in evaluation_groups(infos).items():
        out[group] = {}
        for s in scorers:
            chosen = [r for r, m in zip(records, mask, strict=True) if m and r[s] is not None]
            m = detection_metrics(np.asarray([r["label"] for r in chosen]), np.asarray([r[s] for r in chosen]),
                                  fpr_targets, reference)
            m["n_unscored"] = int(mask.sum()) - len(chosen)
            out[group][s] = m
    return out


def _plots(ctx: RunContext, records: list[dict[str, Any]], scorers: list[str]) -> list:
    paths = []
    for dataset in sorted({r["dataset"] for r in records}):
        rows = [r for r in records if r["dataset"] == dataset]
        labels = {s: np.asarray([r["label"] for r in rows if r[s] is not None]) for s in scorers}
        scores = {s: np.asarray([r[s] for r in rows if r[s] is not None], dtype=np.float64) for s in scorers}
        roc, hist = ctx.run_dir / f"roc_{dataset}.png", ctx.run_dir / f"hist_{dataset}.png"
        plot_roc(roc, f"{dataset}: video-level ROC", labels, scores)
        plot_histograms(hist, f"{dataset}: video scores", labels, scores)
        paths += [roc, hist]
    return paths


def _nan_to_none(metrics: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """NaN (a group without both classes) as null, so results.json stays strict JSON."""
    return {g: {s: {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in m.items()}
                for s, m in by.items()} for g, by in metrics.items()}


def sweep_summary(metrics: dict[str, dict[str, dict[str, Any]]], primary: str) -> dict[str, float]:
    """Mean dataset-level AUC of the primary head, its fusion and the classifier: the sweep's target metrics."""
    names = {"head_auc": primary, "fusion_auc": fusion_name(primary), "classifier_auc": CLASSIFIER}
    summary = {}
    for key, scorer in names.items():
        aucs = [by[scorer]["auc"] for group, by in metrics.items()
                if "/" not in group and scorer in by and not math.isnan(by[scorer]["auc"])]
        if aucs:
            summary[f"evaluate/{key}"] = float(np.mean(aucs))
    return summary


def run(ctx: RunContext) -> dict[str, Any]:
    """Score the test split of every evaluated dataset; write results.md, scores.csv, plots, W&B tables."""
    cfg, ev = ctx.cfg, ctx.cfg.eval
    scorer = RunScorer.from_run_dir(ctx.run_dir)
    scorers = scorer.scorer_names
    datasets = [d for d in datasets_in_run(cfg) if ev.include_train_dataset or d.name != cfg.data.name]
    if not datasets:
        raise ValueError("nothing to evaluate: set eval.include_train_dataset=true or add test_data entries")
    records = []
    for data in datasets:
        emb_dir = embedding_dir(ctx, data)
        records += score_dataset(scorer, EmbeddingTable.load(emb_dir / EMBEDDINGS_FILE), load_rows(emb_dir / ROWS_FILE))
    if not records:
        raise ValueError(f"no test videos in {[d.name for d in datasets]}: check the datasets' test splits")
    fpr_targets = [float(t) for t in ev.fpr_targets]
    metrics = group_metrics(records, scorers, fpr_targets, bool(ev.reference_metric))
    unscored = [{k: r[k] for k in ("video_id", "label", "num_frames", "reason", CLASSIFIER)}
                for r in records if r["reason"]]
    write_scores_csv(ctx.run_dir / "scores.csv", records, scorers)
    table = results_markdown(f"Results: {cfg.task_name}", metrics, scorers, unscored, scorer.calibration)
    write_markdown(ctx.run_dir / "results.md", table)
    images = _plots(ctx, records, scorers) if ev.plots else []
    run = wandb_run(ctx.loggers)
    if run is not None:
        log_to_wandb(run, metrics, records, scorers, images)
    summary = sweep_summary(metrics, scorer.settings["primary"])
    ctx.log_metrics({**summary, **{f"test_auc/{g}/{s}": m["auc"] for g, by in metrics.items()
                                   for s, m in by.items() if "/" not in g and not math.isnan(m["auc"])}})
    log.info("results (also in %s):\n%s", ctx.run_dir / "results.md", table)
    return {"metrics": _nan_to_none(metrics), "n_test_videos": len(records), "n_unscored": len(unscored),
            "unscored": [{"video_id": u["video_id"], "reason": u["reason"]} for u in unscored],
            "primary": scorer.settings["primary"], "summary": summary}
