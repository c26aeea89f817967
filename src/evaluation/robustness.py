"""Robustness evaluation: the grid of test-time perturbations (`eval.perturbations`), the name of each one's
evaluation group (`<dataset>@<kind>-<severity>`), and the ROC-AUC-against-severity table read from the metrics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from data_modules.perturb import Perturbation
from src.evaluation.groups import GroupMetrics

SEPARATOR = "@"
EXAMPLE = "{kind: jpeg, severities: [1, 3, 5]}"


def perturbation_grid(spec: Iterable[Mapping] | None) -> list[Perturbation]:
    """eval.perturbations (a list of {kind, severities}) as Perturbations in the given order; a bad entry raises
    naming it before any video is touched."""
    grid: list[Perturbation] = []
    for i, entry in enumerate(spec or []):
        if not isinstance(entry, Mapping) or set(entry) != {"kind", "severities"}:
            raise ValueError(f"eval.perturbations[{i}] = {entry} must have exactly the keys kind and severities, "
                             f"e.g. {EXAMPLE}")
        severities = entry["severities"]
        if isinstance(severities, (str, bytes)) or not isinstance(severities, Iterable) or not list(severities):
            raise ValueError(f"eval.perturbations[{i}].severities = {severities!r} must be a non-empty list, "
                             f"e.g. {EXAMPLE}")
        for severity in severities:
            perturbation = Perturbation.parse({"kind": entry["kind"], "severity": severity})
            if perturbation in grid:
                raise ValueError(f"eval.perturbations lists {perturbation.key} twice; keep one")
            grid.append(perturbation)
    return grid


def group_name(dataset: str, perturbation: Perturbation) -> str:
    """`<dataset>@<kind>-<severity>`: the evaluation group of a dataset's test videos under one perturbation."""
    return f"{dataset}{SEPARATOR}{perturbation.key}"


@dataclass(frozen=True)
class RobustnessPoint:
    """ROC-AUC of every scorer on one dataset's test videos under one perturbation (severity 0: clean)."""

    dataset: str
    kind: str
    severity: int
    parameter: float | None
    group: str
    auc: dict[str, float | None]


def _auc(metrics: GroupMetrics, group: str, scorer: str) -> float | None:
    value = metrics.get(group, {}).get(scorer, {}).get("auc")
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def robustness_points(metrics: GroupMetrics, datasets: Sequence[str], grid: Sequence[Perturbation],
                      scorers: Sequence[str]) -> list[RobustnessPoint]:
    """Per dataset and kind, the clean group as severity 0 (unless the grid names it) then each graded severity."""
    points = []
    for dataset in datasets:
        for kind in dict.fromkeys(p.kind for p in grid):
            chosen = sorted((p for p in grid if p.kind == kind), key=lambda p: p.severity)
            if chosen[0].severity != 0:
                points.append(RobustnessPoint(dataset, kind, 0, None, dataset,
                                              {s: _auc(metrics, dataset, s) for s in scorers}))
            for p in chosen:
                group = group_name(dataset, p)
                points.append(RobustnessPoint(dataset, kind, p.severity, p.parameter, group,
                                              {s: _auc(metrics, group, s) for s in scorers}))
    return points


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def robustness_markdown(points: Sequence[RobustnessPoint], scorers: Sequence[str]) -> str:
    """results.md section: video-level ROC-AUC per perturbation and severity (severity 0: the clean videos)."""
    lines = ["", "## Robustness: ROC-AUC under test-time perturbations", "",
             "Test videos degraded before face detection (data_modules/perturb.py); severity 0 is the clean group.",
             "", "| group | kind | severity | parameter | " + " | ".join(scorers) + " |",
             "|---" * (len(scorers) + 4) + "|"]
    for p in points:
        parameter = "–" if p.parameter is None else f"{p.parameter:g}"
        lines.append(f"| {p.group} | {p.kind} | {p.severity} | {parameter} | "
                     + " | ".join(_fmt(p.auc[s]) for s in scorers) + " |")
    return "\n".join(lines) + "\n"
