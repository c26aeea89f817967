"""Seed repeats: runs whose configs differ only in `seed`, summarised as mean ± sample std per group and scorer.

`src.sweep seeds=[1,2,3]` repeats each grid point over these seeds and writes this summary (seeds.md) into the
multirun folder; `src.report` writes it for any runs folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from src.evaluation.reproduction import Estimate, RunRecord


@dataclass(frozen=True)
class SeedRow:
    """One setting's AUC of one scorer in one evaluation group, over the seeds that ran it."""

    setting: str
    setting_hash: str
    group: str
    scorer: str
    estimate: Estimate
    seeds: tuple[int | None, ...]


def seed_rows(runs: Sequence[RunRecord]) -> list[SeedRow]:
    """Runs grouped by their config hash without the seed; mean ± std of each whole dataset's AUC per scorer."""
    by_setting: dict[str, list[RunRecord]] = {}
    for run in runs:
        by_setting.setdefault(run.setting_hash, []).append(run)
    rows = []
    for setting_hash, same in sorted(by_setting.items(), key=lambda kv: kv[1][0].setting):
        values: dict[tuple[str, str], list[tuple[int | None, float]]] = {}
        for run in sorted(same, key=lambda r: (r.seed is None, r.seed or 0)):
            for group, by in run.metrics.items():
                if "/" in group:
                    continue
                for scorer, m in by.items():
                    if m.get("auc") is not None:
                        values.setdefault((group, scorer), []).append((run.seed, float(m["auc"])))
        rows += [SeedRow(same[0].setting, setting_hash, g, s, Estimate.of([a for _, a in v]), tuple(x for x, _ in v))
                 for (g, s), v in values.items()]
    return rows


def seeds_markdown(rows: Sequence[SeedRow], root: str) -> str:
    """seeds.md: mean ± sample std (0 for one run) of the video-level ROC-AUC per setting, group and scorer."""
    lines = ["# Seeds", "", f"Finished runs under `{root}` grouped by their config without `seed` (a setting): "
             "video-level ROC-AUC mean ± sample standard deviation across the seeds, per dataset and scorer.", "",
             "| setting | group | scorer | ROC-AUC mean ± std | n | seeds | setting hash |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        e = r.estimate
        seeds = ", ".join("?" if s is None else str(s) for s in r.seeds)
        lines.append(f"| {r.setting} | {r.group} | {r.scorer} | {e.mean:.4f} ± {e.std:.4f} | {e.n} | {seeds} | "
                     f"{r.setting_hash} |")
    if not rows:
        lines.append("| no finished runs | | | | | | |")
    return "\n".join(lines) + "\n"
