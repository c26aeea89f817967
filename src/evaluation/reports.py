"""Run-dir reports: results.md, scores.csv, and W&B tables/images (the figures are drawn in plots.py)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from data_modules.io import atomic_write_bytes, atomic_write_text
from src.evaluation.comparisons import PairedComparison
from src.evaluation.groups import GroupMetrics
from src.evaluation.intervals import BootstrapSettings
from src.evaluation.levels import LevelMetrics
from src.evaluation.videos import ScoredVideo

VIDEO_FIELDS = ["video_id", "dataset", "manipulation", "compression", "label", "num_frames", "num_pairs", "reason"]
METRIC_COLUMNS = [("auc", "ROC-AUC"), ("ap", "AP"), ("eer", "EER"), ("tpr@fpr0.01", "TPR@1%FPR"),
                  ("tpr@fpr0.05", "TPR@5%FPR"), ("ref_thresholded_auc", "ref. thresholded \"AUC\"*")]
REF_NOTE = ("\\* The reference implementation's metric: scores binarised at the best threshold on the TEST set, "
            "then ROC-AUC, i.e. the best balanced accuracy. It uses test labels and is not a ROC-AUC; shown only "
            "to compare with the paper's numbers.")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any) -> str:
    if _missing(value):
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def fmt_auc(m: dict[str, Any]) -> str:
    """`0.9123 [0.8810, 0.9402]` where the metrics hold a bootstrap interval, else the AUC alone."""
    if _missing(m.get("auc_lo")) or _missing(m.get("auc_hi")):
        return _fmt(m.get("auc"))
    return f"{m['auc']:.4f} [{m['auc_lo']:.4f}, {m['auc_hi']:.4f}]"


def _accuracy_columns(metrics: GroupMetrics) -> list[tuple[str, str]]:
    """acc@/bacc@ columns at the calibrated FPRs present in the metrics, in that order."""
    keys = dict.fromkeys(k for by in metrics.values() for m in by.values() for k in m if k.startswith(("acc@", "bacc@")))
    return [(k, ("bal. acc" if k.startswith("b") else "acc") + f" @val {k.split('@fpr')[1]} FPR") for k in keys]


def plain(value: Any) -> Any:
    """Dataclasses as dicts and NaN as null, recursively, so results.json stays strict JSON."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


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
        # full precision: src.score on the same video must be checkable against these to 1e-6
        writer.writerow({**row, **{s: "" if row[s] is None else repr(float(row[s])) for s in scorers}})
    atomic_write_bytes(path, buf.getvalue().encode())


def _auc_section(metrics: GroupMetrics, scorers: list[str], bootstrap: BootstrapSettings | None) -> list[str]:
    lines = ["## ROC-AUC by evaluation group", ""]
    if bootstrap is not None:
        lines += [f"`auc [lo, hi]`: {bootstrap.confidence:.0%} stratified bootstrap interval ({bootstrap.resamples} "
                  f"resamples of reals and fakes separately, seed {bootstrap.seed}; eval.bootstrap).", ""]
    lines += ["| group | " + " | ".join(scorers) + " | real / fake videos |", "|---" * (len(scorers) + 2) + "|"]
    for group, by_scorer in metrics.items():
        first = next(iter(by_scorer.values()))
        lines.append(f"| {group} | " + " | ".join(fmt_auc(by_scorer[s]) for s in scorers)
                     + f" | {first['n_real']} / {first['n_fake']} |")
    return lines


def _full_metrics_section(group: str, by_scorer: dict[str, dict[str, Any]], scorers: list[str],
                          accuracy: list[tuple[str, str]]) -> list[str]:
    columns = METRIC_COLUMNS + accuracy
    lines = ["", f"## {group}: all metrics", "", "| scorer | " + " | ".join(h for _, h in columns)
             + " | real / fake |", "|---" * (len(columns) + 2) + "|"]
    for s in scorers:
        m = by_scorer[s]
        lines.append(f"| {s} | " + " | ".join(fmt_auc(m) if k == "auc" else _fmt(m.get(k)) for k, _ in columns)
                     + f" | {m['n_real']} / {m['n_fake']} |")
    return lines


def levels_markdown(levels: Sequence[LevelMetrics]) -> list[str]:
    """Frame-level (classifier) and pair-level (heads) metrics, one row per group and scorer."""
    keys = list(dict.fromkeys(k for m in levels for k in m.acc))
    lines = ["", "## Frame- and pair-level metrics", "",
             "Every frame (classifier P(fake)) or pair (head score) is one sample, labelled with its video's label. "
             "Accuracy at the video-level thresholds calibrated on validation reals at each FPR.", "",
             "| group | scorer | level | ROC-AUC | AP | EER | " + " | ".join(
                 f"acc / bal. acc @val {k} FPR" for k in keys) + " | real / fake samples |",
             "|---" * (7 + len(keys)) + "|"]
    for m in levels:
        accs = " | ".join(f"{_fmt(m.acc.get(k))} / {_fmt(m.bacc.get(k))}" for k in keys)
        lines.append(f"| {m.group} | {m.scorer} | {m.level} | {_fmt(m.auc)} | {_fmt(m.ap)} | {_fmt(m.eer)} | "
                     + (accs + " | " if keys else "") + f"{m.n_real} / {m.n_fake} |")
    return lines


def comparisons_markdown(comparisons: Sequence[PairedComparison]) -> list[str]:
    """DeLong's test of each scorer against the main scorer on the same videos."""
    if not comparisons:
        return []
    confidence = next((c.test.confidence for c in comparisons if c.test), 0.95)
    lines = ["", "## Paired comparisons (DeLong)", "",
             f"AUC(scorer) − AUC(reference) on the videos both scored, with its {confidence:.0%} interval and "
             "two-sided p-value (DeLong, DeLong & Clarke-Pearson 1988).", "",
             "| group | scorer | reference | AUC scorer | AUC reference | difference [lo, hi], p | note |",
             "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        t = c.test
        p = "p –" if t is None or _missing(t.p_value) else f"p = {t.p_value:.4f}"
        cells = f"{_fmt(t.auc_a)} | {_fmt(t.auc_b)} | {t.diff:+.4f} [{t.lo:+.4f}, {t.hi:+.4f}], {p}" if t else "– | – | –"
        lines.append(f"| {c.group} | {c.scorer} | {c.reference} | {cells} | {c.note or (t.note if t else '')} |")
    return lines


def results_markdown(title: str, metrics: GroupMetrics, scorers: list[str], unscored: list[ScoredVideo],
                     calibration: CalibrationSummary | None, classifier: str,
                     levels: Sequence[LevelMetrics] = (), comparisons: Sequence[PairedComparison] = (),
                     bootstrap: BootstrapSettings | None = None) -> str:
    """Markdown: ROC-AUC [interval] per group and scorer, full metrics per dataset, frame/pair-level metrics,
    paired comparisons, unscored videos, calibration."""
    lines = [f"# {title}", "", "Video-level scores (pair or frame scores aggregated per video_id). "
             "Higher = more likely fake.", "", *_auc_section(metrics, scorers, bootstrap)]
    accuracy = _accuracy_columns(metrics)
    for group, by_scorer in metrics.items():
        if "/" not in group:
            lines += _full_metrics_section(group, by_scorer, scorers, accuracy)
    lines += ["", REF_NOTE]
    if levels:
        lines += levels_markdown(levels)
    lines += comparisons_markdown(comparisons)
    lines += ["", f"## Videos without a differential score ({len(unscored)})", ""]
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


def _level_rows(levels: Sequence[LevelMetrics]) -> tuple[list[str], list[list[Any]]]:
    keys = list(dict.fromkeys(k for m in levels for k in m.acc))
    cols = ["group", "scorer", "level", "auc", "ap", "eer", *(f"acc@fpr{k}" for k in keys),
            *(f"bacc@fpr{k}" for k in keys), "n_real", "n_fake"]
    rows = [[m.group, m.scorer, m.level, m.auc, m.ap, m.eer, *(m.acc.get(k) for k in keys),
             *(m.bacc.get(k) for k in keys), m.n_real, m.n_fake] for m in levels]
    return cols, rows


def _comparison_rows(comparisons: Sequence[PairedComparison]) -> tuple[list[str], list[list[Any]]]:
    cols = ["group", "scorer", "reference", "auc_scorer", "auc_reference", "diff", "lo", "hi", "p_value", "note"]
    rows = [[c.group, c.scorer, c.reference, *((c.test.auc_a, c.test.auc_b, c.test.diff, c.test.lo, c.test.hi,
                                                 c.test.p_value) if c.test else [None] * 6),
             c.note or (c.test.note if c.test else "")]
            for c in comparisons]
    return cols, rows


def log_to_wandb(run: Any, metrics: GroupMetrics, videos: list[ScoredVideo], scorers: list[str],
                 images: list[Path], levels: Sequence[LevelMetrics] = (),
                 comparisons: Sequence[PairedComparison] = ()) -> None:
    """Metrics (with intervals), frame/pair-level metrics, paired comparisons and per-video scores as W&B
    tables, plots as images, dataset ROC-AUCs and their intervals in the summary."""
    import wandb

    accuracy = [k for k, _ in _accuracy_columns(metrics)]
    keys = ["auc", "auc_lo", "auc_hi", *(k for k, _ in METRIC_COLUMNS[1:]), *accuracy]
    cols = ["group", "scorer", *keys, "n_real", "n_fake"]
    rows = [[g, s, *(plain(m.get(k)) for k in keys), m["n_real"], m["n_fake"]]
            for g, by in metrics.items() for s, m in by.items()]
    video_cols = VIDEO_FIELDS + scorers
    video_rows = [list(_video_row(v, scorers).values()) for v in videos]
    payload = {"eval/metrics": wandb.Table(columns=cols, data=rows),
               "eval/video_scores": wandb.Table(columns=video_cols, data=video_rows)}
    if levels:
        level_cols, level_rows = _level_rows(levels)
        payload["eval/sample_level_metrics"] = wandb.Table(columns=level_cols, data=plain(level_rows))
    if comparisons:
        comparison_cols, comparison_rows = _comparison_rows(comparisons)
        payload["eval/comparisons"] = wandb.Table(columns=comparison_cols, data=plain(comparison_rows))
    payload.update({f"eval/{p.stem}": wandb.Image(str(p)) for p in images})
    run.log(payload)
    for g, by in metrics.items():
        for s, m in by.items():
            for key in ("auc", "auc_lo", "auc_hi"):
                if not _missing(m.get(key)):
                    run.summary[f"{key}/{g}/{s}"] = m[key]


def write_markdown(path: Path, text: str) -> None:
    """Atomic write of the results table."""
    atomic_write_text(path, text)
