"""Run-dir reports: results.md, scores.csv, and W&B tables/images (the figures are drawn in plots.py)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from data_modules.io import atomic_write_bytes, atomic_write_text

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


def write_scores_csv(path: Path, records: list[dict[str, Any]], scorers: list[str]) -> None:
    """One row per test video: identity, frame/pair counts, reason when unscored, and every scorer's score."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=VIDEO_FIELDS + scorers, extrasaction="ignore")
    writer.writeheader()
    for rec in records:
        writer.writerow({**rec, **{s: "" if rec[s] is None else f"{rec[s]:.6g}" for s in scorers}})
    atomic_write_bytes(path, buf.getvalue().encode())


def results_markdown(title: str, metrics: dict[str, dict[str, dict[str, Any]]], scorers: list[str],
                     unscored: list[dict[str, Any]], calibration: dict[str, Any] | None) -> str:
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
        lines += [f"| {u['video_id']} | {u['label']} | {u['num_frames']} | {u['reason']} | "
                  f"{'yes' if u['classifier'] is not None else 'no'} |" for u in unscored]
    else:
        lines.append("None: every test video had enough frames.")
    if calibration:
        lines += ["", "## Calibration (validation data only)", "",
                  f"{calibration['n_val_real']} validation real videos, {calibration['n_val_pseudo_fake']} "
                  "pseudo-fake videos.", "", "| scorer | val ROC-AUC | fusion weight on head |", "|---|---|---|"]
        for name, cal in calibration["scorers"].items():
            if "val_auc" not in cal:
                continue
            weight = calibration["fusion"].get(name, {}).get("weight")
            lines.append(f"| {name} | {_fmt(cal.get('val_auc'))} | {_fmt(weight)} |")
    return "\n".join(lines) + "\n"


def log_to_wandb(run: Any, metrics: dict[str, dict[str, dict[str, Any]]], records: list[dict[str, Any]],
                 scorers: list[str], images: list[Path]) -> None:
    """Metrics and per-video scores as W&B tables, plots as images, dataset ROC-AUCs in the summary."""
    import wandb

    cols = ["group", "scorer", *(k for k, _ in METRIC_COLUMNS), "n_real", "n_fake"]
    rows = [[g, s, *(m.get(k) for k, _ in METRIC_COLUMNS), m["n_real"], m["n_fake"]]
            for g, by in metrics.items() for s, m in by.items()]
    video_cols = VIDEO_FIELDS + scorers
    payload = {"eval/metrics": wandb.Table(columns=cols, data=rows),
               "eval/video_scores": wandb.Table(columns=video_cols, data=[[r[c] for c in video_cols] for r in records])}
    payload.update({f"eval/{p.stem}": wandb.Image(str(p)) for p in images})
    run.log(payload)
    for g, by in metrics.items():
        for s, m in by.items():
            if m.get("auc") is not None and not math.isnan(m["auc"]):
                run.summary[f"auc/{g}/{s}"] = m["auc"]


def write_markdown(path: Path, text: str) -> None:
    """Atomic write of the results table."""
    atomic_write_text(path, text)
