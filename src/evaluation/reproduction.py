"""Reproduction report: every finished run's AUCs next to the paper's, one line per paper row (table, row, column).

A run counts once results.json holds an `evaluate` stage and config.yaml sits beside it; its config's `paper`
block says which paper rows it reproduces and which evaluation group and scorer hold our number. Several runs
of one row (seeds) give mean ± sample std and n. AUCs are in percent, as in the paper.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data_modules.io import atomic_write_bytes, read_json, reading, stable_hash

TABLE_ORDER = ("cross_manipulation", "operator_ablation_cross_manipulation", "cross_dataset",
               "operator_ablation_cross_dataset", "compression", "head_ablation", "backbone_ablation")
# config keys that say where things live or how a run is named and logged, not what it computes: left out of
# the config hash, so one computation has one hash on every machine and under every experiment name
_UNHASHED = ("paths", "hydra", "task_name", "tags", "logger", "extras", "paper")
_PATH_SUFFIXES = ("root", "_dir", "_file")
_PATH_KEYS = ("out",)  # where outputs go (export.out), not what is computed


@dataclass(frozen=True)
class PaperRow:
    """One cell of the paper's tables and where our number for it comes from."""

    table: str
    row: str
    column: str
    auc: float | None
    scorer: str
    group: str
    note: str = ""
    experiments: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return self.table, self.row, self.column

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], experiments: tuple[str, ...] = ()) -> PaperRow:
        """A `paper` block entry of an experiment config, with a clear error for a missing key."""
        missing = [k for k in ("table", "row", "column", "auc", "scorer", "group") if k not in entry]
        if missing:
            raise ValueError(f"paper entry {dict(entry)} lacks {missing}; see experiments/run.yaml `paper`")
        auc = entry["auc"]
        return cls(str(entry["table"]), str(entry["row"]), str(entry["column"]), None if auc is None else float(auc),
                   str(entry["scorer"]), str(entry["group"]), str(entry.get("note") or ""), experiments)


@dataclass(frozen=True)
class RunRecord:
    """A finished run: its directory, config hash, paper rows and evaluate metrics."""

    run_dir: Path
    config_hash: str
    rows: tuple[PaperRow, ...]
    metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]
    seed: int | None = None
    setting_hash: str = ""  # the config hash without the seed: runs that differ only in their seed share it
    setting: str = ""  # task, backbone, pair operator and head, for tables

    def aucs(self, group: str) -> dict[str, float]:
        """Scorer -> AUC in percent for one evaluation group (scorers without an AUC are left out)."""
        return {s: 100.0 * m["auc"] for s, m in self.metrics.get(group, {}).items() if m.get("auc") is not None}


@dataclass(frozen=True)
class Estimate:
    """Mean, sample standard deviation (0 for one run) and number of runs of one scorer on one row."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Estimate:
        arr = np.asarray(values, dtype=np.float64)
        return cls(float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, len(arr))

    def text(self) -> str:
        return f"{self.mean:.2f}" if self.n == 1 else f"{self.mean:.2f} ± {self.std:.2f}"


@dataclass
class ReproducedRow:
    """A paper row with what the finished runs gave for it (empty `runs`: not run)."""

    paper: PaperRow
    runs: list[RunRecord] = field(default_factory=list)

    def scorers(self) -> dict[str, Estimate]:
        """Scorer -> estimate over the runs, the row's main scorer first, then the others by name."""
        values: dict[str, list[float]] = {}
        for run in self.runs:
            for scorer, auc in run.aucs(self.paper.group).items():
                values.setdefault(scorer, []).append(auc)
        order = sorted(values, key=lambda s: (s != self.paper.scorer, s))
        return {s: Estimate.of(values[s]) for s in order}

    @property
    def main(self) -> Estimate | None:
        return self.scorers().get(self.paper.scorer)

    @property
    def difference(self) -> float | None:
        """Our main scorer's mean AUC minus the paper's (None when either is missing)."""
        main = self.main
        return None if main is None or self.paper.auc is None else main.mean - self.paper.auc


def config_hash(config: Mapping[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """Stable hash of a run's resolved config without _UNHASHED (and `ignore`) keys and nested roots, dirs, files
    and outputs."""
    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: strip(v) for k, v in value.items()
                    if not str(k).endswith(_PATH_SUFFIXES) and k not in _PATH_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return stable_hash(strip({k: v for k, v in config.items() if k not in (*_UNHASHED, *ignore)}))


def setting_name(config: Mapping[str, Any]) -> str:
    """`demo backbone=… pair_op=… head=…`: what a sweep varies, read from a run's config."""
    parts = [f"{group}={(config.get(group) or {}).get('name', '?')}" for group in ("backbone", "pair_op", "head")]
    return " ".join([str(config.get("task_name", "run")), *parts])


def read_run(run_dir: Path) -> RunRecord | None:
    """The run in `run_dir` if it finished the evaluate stage and has a config.yaml, else None."""
    results_path, config_path = run_dir / "results.json", run_dir / "config.yaml"
    if not (results_path.is_file() and config_path.is_file()):
        return None
    fix = f"delete the run {run_dir} or rerun it"
    results = read_json(results_path, fix)
    evaluate = results.get("stages", {}).get("evaluate")
    if not evaluate:
        return None
    with reading(config_path, fix):
        config = yaml.safe_load(config_path.read_text()) or {}
    rows = tuple(PaperRow.from_entry(e) for e in config.get("paper") or [])
    seed = config.get("seed")
    return RunRecord(run_dir, config_hash(config), rows, evaluate.get("metrics", {}),
                     None if seed is None else int(seed), config_hash(config, ("seed",)), setting_name(config))


def find_runs(root: Path) -> list[RunRecord]:
    """Every finished run under `root` (any depth), in path order."""
    if not root.is_dir():
        raise FileNotFoundError(f"runs folder {root} does not exist; pass runs=<the outputs folder of src.run>")
    runs = (read_run(p.parent) for p in sorted(root.rglob("results.json")))
    return [r for r in runs if r is not None]


def match_rows(expected: Iterable[PaperRow], runs: Iterable[RunRecord]) -> list[ReproducedRow]:
    """One ReproducedRow per paper row in table order; rows only a run knows of (renamed since) are kept too."""
    rows = {p.key: ReproducedRow(p) for p in expected}
    for run in runs:
        for p in run.rows:
            rows.setdefault(p.key, ReproducedRow(p)).runs.append(run)
    rank = {t: i for i, t in enumerate(TABLE_ORDER)}
    # rows by label (ABS < SUB < SUB² < SUB³), columns in the order the experiments list them
    return sorted(rows.values(), key=lambda r: (rank.get(r.paper.table, len(rank)), r.paper.table, r.paper.row))


def _run_names(row: ReproducedRow, root: Path) -> str:
    return ", ".join(f"`{r.run_dir.relative_to(root) if r.run_dir.is_relative_to(root) else r.run_dir}`"
                     for r in row.runs)


def markdown(rows: list[ReproducedRow], root: Path) -> str:
    """The reproduction table: paper AUC, ours per scorer (main first), difference, runs and config hashes."""
    done = [r for r in rows if r.runs]
    lines = ["# Reproduction report", "",
             f"Finished runs under `{root}` against the paper's video-level ROC-AUC (%): {len(done)} of {len(rows)} "
             "paper rows have a run. Ours is the row's main scorer (mean ± sample std over the n runs that give it); "
             "the other scorers of the same runs follow. Difference = ours − paper.", "",
             "| table | row | column | paper AUC | ours | difference | n | other scorers | runs | config hash |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        p = r.paper
        paper = f"{p.auc:.1f}" if p.auc is not None else (p.note or "not published")
        head = f"| {p.table} | {p.row} | {p.column} | {paper} |"
        if not r.runs:
            todo = " or ".join(f"`{e}`" for e in p.experiments)
            lines.append(f"{head} not run | | 0 | | {('run ' + todo) if todo else ''} | |")
            continue
        scorers = r.scorers()
        main = scorers.get(p.scorer)
        ours = f"{p.scorer} {main.text()}" if main else f"no {p.scorer} AUC in group `{p.group}`"
        diff = f"{r.difference:+.2f}" if r.difference is not None else "—"
        others = "; ".join(f"{s} {e.text()}" for s, e in scorers.items() if s != p.scorer)
        hashes = ", ".join(sorted({run.config_hash for run in r.runs}))
        n = main.n if main else 0
        lines.append(f"{head} {ours} | {diff} | {n} | {others} | {_run_names(r, root)} | {hashes} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[ReproducedRow], path: Path) -> None:
    """Paper AUC (x) against ours (y, main scorer, ± std) per table, with the diagonal of perfect agreement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    points = [(r.paper, r.main) for r in rows if r.paper.auc is not None and r.main is not None]
    for table in dict.fromkeys(p.table for p, _ in points):
        mine = [(p, e) for p, e in points if p.table == table]
        ax.errorbar([p.auc for p, _ in mine], [e.mean for _, e in mine], yerr=[e.std for _, e in mine],
                    fmt="o", capsize=3, label=table)
    values = [v for p, e in points for v in (p.auc, e.mean)]
    low = math.floor(min(values, default=50.0)) - 1
    ax.plot([low, 100], [low, 100], "k--", lw=1, label="ours = paper")
    ax.set(xlim=(low, 100.5), ylim=(low, 100.5), xlabel="paper AUC (%)", ylabel="ours, main scorer (%)",
           title=f"Reproduction: {len(points)} of {len(rows)} paper rows")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def table_rows(rows: list[ReproducedRow]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows for a W&B table: one line per paper row and scorer."""
    columns = ["table", "row", "column", "paper_auc", "scorer", "main", "ours_mean", "ours_std", "n", "difference"]
    data = []
    for r in rows:
        p = r.paper
        for scorer, est in (r.scorers() or {p.scorer: None}).items():
            data.append([p.table, p.row, p.column, p.auc, scorer, scorer == p.scorer,
                         est.mean if est else None, est.std if est else None, est.n if est else 0,
                         est.mean - p.auc if est and p.auc is not None else None])
    return columns, data
