"""Run-dir reports: results.md, scores.csv, and W&B tables/images (the figures are drawn in plots.py)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_modules.io import atomic_write_bytes, atomic_write_text
from src.evaluation.groups import GroupMetrics
from src.evaluation.videos import ScoredVideo

VIDEO_FIELDS = ["video_id", "dataset", "manipulation", "compression", "label", "num_frames", "num_pairs", "reason"]
METRIC_COLUMNS = [("auc", "ROC-AUC"), ("ap", "AP"), ("eer", "EER"), ("tpr@fpr0.01", "TPR@1%FPR"),
                  ("tpr@fpr0.05", "TPR@5%FPR"), ("ref_thresholded_auc", "ref. thresholded \"AUC\"*")]
REF_NOTE = ("\\* The reference implementation's metric: scores binarised at the best threshold on the TEST set, "
            "then ROC-AUC, i.e. the best balanced accuracy. It uses test labels and is not a ROC-AUC; shown only "
            "to compare with the paper's numbers.")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class CalibrationRow:
    """One scorer's validation ROC-AUC and (for a head) its weight in the fusion with the classifier."""

    scorer: str
    val_auc: float | None
    fusion_weight: float | None


@dataclass(frozen=True)
class CalibrationSummary:
    """What results.md says about calibration: how many validation videos, and a row per scorer."""

    n_val_real: int
    n_val_pseudo_fake: int
    rows: list[CalibrationRow]


def _video_row(video: ScoredVideo, scorers: list[str]) -> dict[str, Any]:
    return {**{k: getattr(video, k) for k in VIDEO_FIELDS}, **{s: video.scores.get(s) for s in scorers}}


def write_scores_csv(path: Path, videos: list[ScoredVideo], scorers: list[str]) -> None:
    """One row per test video: identity, frame/pair counts, reason when unscored, and every scorer's score."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=VIDEO_FIELDS + scorers)
    writer.writeheader()
    for video in videos:
        row = _video_row(video, scorers)
        writer.writerow({**row, **{s: "" if row[s] is None else f"{row[s]:.6g}" for s in scorers}})
    atomic_write_bytes(path, buf.getvalue().encode())


def json_safe(metrics: GroupMetrics) -> GroupMetrics:
    """NaN (a group without both classes) as null, so results.json stays strict JSON."""
    return {g: {s: {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in m.items()}
                for s, m in by.items()} for g, by in metrics.items()}


def results_markdown(title: str, metrics: GroupMetrics, scorers: list[str], unscored: list[ScoredVideo],
                     calibration: CalibrationSummary | None, classifier: str) -> str:
    """Markdown: ROC-AUC per group and scorer, full metrics per dataset, unscored videos, calibration."""
    lines = [f"# {title}", "", "Video-level scores (pair or frame scores aggregated per video_id). "
             "Higher = more likely fake.", "", "## ROC-AUC by evaluation group", "",
             "| group | " + " | ".join(scorers) + " | real / fake videos |",
             "|---" * (len(scorers) + 2) + "|"]
    for group, by_scorer in metrics.items():
        first = next(iter(by_scorer.values()))
        lines.append(f"| {group} | " + " | ".join(_fmt(by_scorer[s]["auc"]) for s in scorers)
                     + f" | {first['n_real']} / {first['n_fake']} |")
    for group, by_scorer in metrics.items():
        if "/" in group:
            continue
        lines += ["", f"## {group}: all metrics", "", "| scorer | " + " | ".join(h for _, h in METRIC_COLUMNS)
                  + " | real / fake |", "|---" * (len(METRIC_COLUMNS) + 2) + "|"]
        for s in scorers:
            m = by_scorer[s]
            lines.append(f"| {s} | " + " | ".join(_fmt(m.get(k)) for k, _ in METRIC_COLUMNS)
                         + f" | {m['n_real']} / {m['n_fake']} |")
    lines += ["", REF_NOTE, "", f"## Videos without a differential score ({len(unscored)})", ""]
    if unscored:
        lines += ["They are excluded from the head and fusion metrics above (counted in `n_real`/`n_fake` only "
                  "where scored); the classifier still scores every video with at least one face frame.", "",
                  "| video_id | label | frames | reason | classifier scored |", "|---|---|---|---|---|"]
        lines += [f"| {u.video_id} | {u.label} | {u.num_frames} | {u.reason} | "
                  f"{'yes' if u.scores.get(classifier) is not None else 'no'} |" for u in unscored]
    else:
        lines.append("None: every test video had enough frames.")
    if calibration:
        lines += ["", "## Calibration (validation data only)", "",
                  f"{calibration.n_val_real} validation real videos, {calibration.n_val_pseudo_fake} "
                  "pseudo-fake videos.", "", "| scorer | val ROC-AUC | fusion weight on head |", "|---|---|---|"]
        lines += [f"| {r.scorer} | {_fmt(r.val_auc)} | {_fmt(r.fusion_weight)} |" for r in calibration.rows]
    return "\n".join(lines) + "\n"


def log_to_wandb(run: Any, metrics: GroupMetrics, videos: list[ScoredVideo], scorers: list[str],
                 images: list[Path]) -> None:
    """Metrics and per-video scores as W&B tables, plots as images, dataset ROC-AUCs in the summary."""
    import wandb

    cols = ["group", "scorer", *(k for k, _ in METRIC_COLUMNS), "n_real", "n_fake"]
    rows = [[g, s, *(m.get(k) for k, _ in METRIC_COLUMNS), m["n_real"], m["n_fake"]]
            for g, by in metrics.items() for s, m in by.items()]
    video_cols = VIDEO_FIELDS + scorers
    video_rows = [list(_video_row(v, scorers).values()) for v in videos]
    payload = {"eval/metrics": wandb.Table(columns=cols, data=rows),
               "eval/video_scores": wandb.Table(columns=video_cols, data=video_rows)}
    payload.update({f"eval/{p.stem}": wandb.Image(str(p)) for p in images})
    run.log(payload)
    for g, by in metrics.items():
        for s, m in by.items():
            if m.get("auc") is not None and not math.isnan(m["auc"]):
                run.summary[f"auc/{g}/{s}"] = m["auc"]


def write_markdown(path: Path, text: str) -> None:
    """Atomic write of the results table."""
    atomic_write_text(path, text)
