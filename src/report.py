"""Reproduction report: every finished run under a folder against the paper's numbers.

    python -m src.report runs=<outputs dir> [out=<dir>]

Writes <out>/reproduction.md and reproduction.png (out defaults to the runs folder), <out>/seeds.md (mean ± std
of every setting's AUCs across the seeds that ran it) and, when WANDB_MODE=online, a W&B table. The paper's rows come from the `paper` blocks of experiments/experiment/paper_*.yaml; rows without
a finished run are listed as "not run".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from data_modules.cli import parse_args, run_main
from data_modules.io import atomic_write_text
from src.config import compose_config, group_choices
from src.evaluation.reproduction import (
    PaperRow,
    ReproducedRow,
    find_runs,
    markdown,
    match_rows,
    plot,
    table_rows,
)
from src.evaluation.seeds import seed_rows, seeds_markdown
from src.utils.logging import get_logger

log = get_logger(__name__)

USAGE = "usage: python -m src.report runs=<outputs dir> [out=<dir>]"
MARKDOWN, FIGURE, SEEDS = "reproduction.md", "reproduction.png", "seeds.md"


@dataclass(frozen=True)
class ReportArgs:
    """Command-line arguments of src.report."""

    runs: Path
    out: Path | None = None


def paper_rows() -> list[PaperRow]:
    """Every paper row of the paper_* experiments (composed), with the experiments that reproduce it."""
    found: dict[tuple[str, str, str], tuple[dict, list[str]]] = {}
    for name in (n for n in group_choices("experiment") if n.startswith("paper_")):
        for entry in OmegaConf.to_container(compose_config([f"experiment={name}"]).paper, resolve=True):
            key = (entry["table"], entry["row"], entry["column"])
            found.setdefault(key, (entry, []))[1].append(name)
    return [PaperRow.from_entry(entry, tuple(names)) for entry, names in found.values()]


def log_to_wandb(rows: list[ReproducedRow], figure: Path) -> None:
    """The reproduction table and figure as a W&B run of job type `report`."""
    import wandb

    columns, data = table_rows(rows)
    with wandb.init(project=os.environ.get("WANDB_PROJECT", "difffake"), job_type="report") as run:
        run.log({"reproduction": wandb.Table(columns=columns, data=data), "reproduction_plot": wandb.Image(str(figure))})


def report(args: ReportArgs) -> list[ReproducedRow]:
    """Collect the runs, write the markdown and the figure (and the W&B table when online)."""
    runs = find_runs(args.runs)
    rows = match_rows(paper_rows(), runs)
    out = args.out or args.runs
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, args.runs)
    atomic_write_text(out / MARKDOWN, text)
    plot(rows, out / FIGURE)
    atomic_write_text(out / SEEDS, seeds_markdown(seed_rows(runs), str(args.runs)))
    if os.environ.get("WANDB_MODE") == "online":
        log_to_wandb(rows, out / FIGURE)
    done = sum(1 for r in rows if r.runs)
    log.info("%d finished runs; %d of %d paper rows reproduced; wrote %s, %s and %s", len(runs), done, len(rows),
             out / MARKDOWN, out / FIGURE, out / SEEDS)
    return rows


def report_command(argv: list[str]) -> int:
    """Parse `key=value` arguments and write the report."""
    report(parse_args(ReportArgs, argv, USAGE))
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point; a bad argument or runs folder ends in one `error: ...` line (exit 2)."""
    run_main(report_command, USAGE, argv)


if __name__ == "__main__":
    main()
