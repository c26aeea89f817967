"""`make sweep`: the grid of experiments/sweep/<name>.yaml as a W&B sweep (online) or a Hydra multirun (offline).

    python -m src.sweep [sweep=grid] [experiment=demo] [seeds=[1,2,3]] [dry_run=true] [<group>=<a>,<b> to narrow]
                        [hydra/launcher=slurm [hydra.launcher.<key>=<value> ...]] [overrides...]

`seeds` repeats every grid point once per seed (`seed=<s>` of the run: stage 1, pairs and heads all change);
the multirun then writes seeds.md, mean ± std of each setting's AUCs across the seeds, into its folder.

With `hydra/launcher=slurm` (or the plugin's submitit_slurm) the grid is a Hydra multirun whose jobs Hydra's
submitit launcher submits as one SLURM job array; `dry_run=true` prints that array's sbatch script.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from data_modules.cli import UsageError, parse_bool, run_main
from data_modules.io import atomic_write_text, reading
from data_modules.registry import UnknownNameError
from src.config import (
    CONFIG_DIR,
    check_group_overrides,
    check_launcher_overrides,
    compose_checked,
    compose_config,
)
from src.evaluation.reproduction import find_runs
from src.evaluation.seeds import seed_rows, seeds_markdown
from src.utils.logging import get_logger

log = get_logger(__name__)

SWEEP_DIR = CONFIG_DIR / "sweep"
USAGE = ("usage: python -m src.sweep [sweep=grid] [experiment=demo] [seeds=[1,2,3]] [dry_run=true] [<group>=<a>,<b>] "
         "[hydra/launcher=slurm] [key=value ...]")
AGENT_ARGS = "${args_no_hyphens}"
FACE_GROUPS = ("data", "face")  # grid parameters that change the face caches
STAGE2_GROUPS = ("pair_op", "head", "pairs", "eval")  # grid parameters that leave stage 1 and the embeddings alone


@dataclass(frozen=True)
class SweepSpec:
    """A grid over config groups on top of one experiment."""

    name: str
    experiment: str
    metric: dict[str, str]
    parameters: dict[str, list[str]]
    overrides: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()  # empty: every run keeps the experiment's seed

    @property
    def swept(self) -> dict[str, list[str]]:
        """The grid's axes: the config groups, then `seed` when seeds are given."""
        return {**self.parameters, **({"seed": [str(s) for s in self.seeds]} if self.seeds else {})}


def parse_seeds(value: Any, source: str = "seeds") -> tuple[int, ...]:
    """`[1,2,3]`, `1,2,3` or a YAML list as distinct integers, or a one-line error naming the value."""
    items = value if isinstance(value, (list, tuple)) else str(value).strip().strip("[]").split(",")
    try:
        seeds = tuple(int(str(s).strip()) for s in items if str(s).strip())
    except ValueError:
        raise UsageError(f"{source}={value!r}: seeds must be integers, e.g. seeds=[1,2,3]") from None
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"{source}={value!r}: each seed once, e.g. seeds=[1,2,3]")
    return seeds


def load_sweep(name: str = "grid") -> SweepSpec:
    """experiments/sweep/<name>.yaml, checked: every parameter is a config group and each value an option."""
    path = SWEEP_DIR / f"{name}.yaml"
    if not path.is_file():
        choices = sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no sweep definition {path}; valid choices: {', '.join(choices)}")
    with reading(path, "fix its YAML (keys: name, experiment, metric, parameters, overrides, seeds)"):
        raw: dict[str, Any] = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        spec = SweepSpec(name=raw["name"], experiment=raw["experiment"], metric=dict(raw["metric"]),
                         parameters={k: [str(v) for v in vs] for k, vs in raw["parameters"].items()},
                         overrides=tuple(raw.get("overrides") or ()),
                         seeds=parse_seeds(raw.get("seeds") or [], f"{path}: seeds"))
    try:
        check_group_overrides([f"{k}={','.join(v)}" for k, v in spec.parameters.items()]
                              + [f"experiment={spec.experiment}"])
    except UnknownNameError as err:
        raise UnknownNameError(f"{path}: {err}") from None
    return spec


def grid(spec: SweepSpec) -> list[dict[str, str]]:
    """Every combination of the parameters (and seeds), in a stable order."""
    axes = spec.swept
    keys = sorted(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(axes[k] for k in keys))]


def base_overrides(spec: SweepSpec, logger: str) -> list[str]:
    """Overrides shared by every run of the sweep: experiment, logger grouped by the sweep name, fixed ones."""
    return [f"experiment={spec.experiment}", f"logger={logger}", f"logger.group={spec.name}", *spec.overrides]


def is_launcher_override(arg: str) -> bool:
    """`hydra/launcher=<name>` or `hydra.launcher.<key>=<value>`: where a multirun's jobs run, not what they do."""
    return arg.lstrip("+~").startswith(("hydra/launcher=", "hydra.launcher."))


def wandb_spec(spec: SweepSpec) -> dict[str, Any]:
    """The W&B sweep configuration: a grid whose agent runs src.run with Hydra-style `key=value` arguments."""
    return {
        "name": spec.name,
        "method": "grid",
        "metric": spec.metric,
        "parameters": {k: {"values": list(v)} for k, v in spec.swept.items()},
        "command": ["${env}", "${interpreter}", "-m", "src.run", *base_overrides(spec, "wandb"), AGENT_ARGS],
    }


def multirun_argv(spec: SweepSpec, launcher: tuple[str, ...] = (), logger: str = "wandb_offline",
                  sweep_dir: Path | None = None) -> list[str]:
    """`python -m src.run -m ...` arguments for the same grid (offline W&B runs by default) on `launcher`, with
    its jobs in `sweep_dir` if given."""
    where = [f"hydra.sweep.dir={sweep_dir}"] if sweep_dir is not None else []
    return ["-m", *base_overrides(spec, logger), *where,
            *(f"{k}={','.join(v)}" for k, v in sorted(spec.swept.items())), *launcher]


def slurm_job(launcher: tuple[str, ...], spec: SweepSpec) -> str:
    """The sbatch script Hydra's submitit launcher would submit for the grid: one array task per run.

    The launcher config is composed as src.run will compose it and turned into sbatch options as the plugin's
    launch() does (generic keys renamed by submitit, the rest slurm-specific)."""
    cfg = compose_config([f"experiment={spec.experiment}", *spec.overrides, *launcher, "hydra.job.name=run"],
                         keep_hydra=True)
    if "submitit_folder" not in cfg.hydra.launcher:
        raise UsageError(f"dry_run shows SLURM jobs only: {' '.join(launcher)} is not a submitit launcher")
    import submitit  # the `slurm` extra, present once check_launcher_overrides passed

    class DryRunSlurmExecutor(submitit.SlurmExecutor):
        """submitit's SLURM executor where there is no SLURM: it renders the sbatch script, submits nothing."""

        @classmethod
        def affinity(cls) -> int:
            return 1  # the parent refuses to start without srun

    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    executor = DryRunSlurmExecutor(params.pop("submitit_folder"), max_num_timeout=params.pop("max_num_timeout", 0))
    params.pop("_target_", None)
    executor.update_parameters(**executor._convert_parameters(params))
    if len(grid(spec)) > 1:  # submitit's map_array submits one job alone, several as an array
        executor.parameters["map_count"] = len(grid(spec))
    return executor._make_submission_file_text(executor._submitit_command_str, "dry_run")


def narrow(spec: SweepSpec, args: list[str]) -> tuple[SweepSpec, list[str]]:
    """Apply `experiment=`, `seeds=`, `<param>=a,b` (a subset of the grid); keep every other argument as an override."""
    parameters, experiment, seeds, extra = dict(spec.parameters), spec.experiment, spec.seeds, []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "experiment":
            experiment = value
        elif key == "seeds":
            seeds = parse_seeds(value)
        elif key in parameters:
            parameters[key] = value.split(",")
        else:
            extra.append(arg)
    if seeds and any(a.partition("=")[0] == "seed" for a in extra):
        raise UsageError("give either seeds=[...] (one run per seed) or seed=<s> (every run), not both")
    return replace(spec, experiment=experiment, parameters=parameters, overrides=(*spec.overrides, *extra),
                   seeds=seeds), extra


def check_grid(spec: SweepSpec) -> None:
    """Compose and check every run of the grid (options, values, dataset roots) before the first one starts."""
    from src.validation import check_run

    for combo in grid(spec):
        overrides = [*base_overrides(spec, "wandb_offline"), *(f"{k}={v}" for k, v in combo.items())]
        try:
            check_run(compose_checked(overrides))
        except UsageError as err:
            raise UsageError(f"sweep {spec.name}, run {' '.join(f'{k}={v}' for k, v in combo.items())}: {err}") from None


def _run(argv: list[str]) -> None:
    log.info("running: %s", " ".join(argv))
    subprocess.run(argv, check=True, cwd=CONFIG_DIR.parent)


def run_online(spec: SweepSpec) -> None:
    """Register the W&B sweep and run one agent through the whole grid."""
    import wandb

    project = os.environ.get("WANDB_PROJECT", "difffake")
    sweep_id = wandb.sweep(wandb_spec(spec), project=project, entity=os.environ.get("WANDB_ENTITY"))
    _run([str(Path(sys.executable).parent / "wandb"), "agent", "--count", str(len(grid(spec))),
          "--project", project, sweep_id])


def multirun_dir(spec: SweepSpec) -> Path:
    """<paths.log_dir>/<experiment>/multiruns/<sweep name>_<time>: where the grid's multirun writes its jobs."""
    log_dir = Path(compose_config([f"experiment={spec.experiment}"], Path(".")).paths.log_dir)
    root = log_dir if log_dir.is_absolute() else CONFIG_DIR.parent / log_dir
    return root / spec.experiment / "multiruns" / f"{spec.name}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"


def write_seed_summary(sweep_dir: Path) -> Path:
    """seeds.md in the multirun folder: every setting's AUCs as mean ± std across its seeds."""
    path = sweep_dir / "seeds.md"
    text = seeds_markdown(seed_rows(find_runs(sweep_dir)), str(sweep_dir))
    atomic_write_text(path, text)
    log.info("seed summary (also in %s):\n%s", path, text)
    return path


def run_offline(spec: SweepSpec) -> None:
    """The grid as a Hydra multirun; offline W&B runs land in each job's dir, grouped by the sweep name; then
    the seed summary of its runs."""
    sweep_dir = multirun_dir(spec)
    _run([sys.executable, "-m", "src.run", *multirun_argv(spec, sweep_dir=sweep_dir)])
    write_seed_summary(sweep_dir)


@dataclass(frozen=True)
class Phase:
    """One multirun of a sweep on a cluster: a grid, and the stages it runs (None: the experiment's own)."""

    spec: SweepSpec
    stages: tuple[str, ...] | None = None

    def argv(self, launcher: tuple[str, ...], logger: str, sweep_dir: Path | None = None) -> list[str]:
        """`python -m src.run` arguments of this phase."""
        stages = [] if self.stages is None else [f"stages=[{','.join(self.stages)}]"]
        return [*multirun_argv(self.spec, launcher, logger, sweep_dir), *stages]


def cluster_phases(spec: SweepSpec) -> list[Phase]:
    """Jobs running side by side must never build the same artifact at once, so the face caches come first
    (one job per data/face choice), then stage 1 and the embeddings (one job per stage-1 choice and seed), then
    the whole grid, whose jobs find them all finished."""
    stages = list(compose_config([f"experiment={spec.experiment}", *spec.overrides]).stages)
    phases = []
    # face caches do not depend on the seed; stage 1 and the embeddings do
    for keep, names, seeds in ((lambda k: k in FACE_GROUPS, ("preprocess",), ()),
                               (lambda k: k not in STAGE2_GROUPS, ("train_extractor", "embed"), spec.seeds)):
        chosen = tuple(n for n in names if n in stages)
        if chosen:
            phases.append(Phase(replace(spec, parameters={k: v for k, v in spec.parameters.items() if keep(k)},
                                        seeds=seeds), chosen))
    return [*phases, Phase(spec)]


def run_on_launcher(spec: SweepSpec, launcher: tuple[str, ...], logger: str) -> None:
    """Each phase as a Hydra multirun on the launcher (Hydra's submitit launcher returns when its jobs are done),
    then the seed summary of the last phase's runs."""
    *first, last = cluster_phases(spec)
    for phase in first:
        _run([sys.executable, "-m", "src.run", *phase.argv(launcher, logger)])
    sweep_dir = multirun_dir(spec)
    _run([sys.executable, "-m", "src.run", *last.argv(launcher, logger, sweep_dir)])
    write_seed_summary(sweep_dir)


def sweep(args: list[str]) -> int:
    """Parse `sweep=`, `dry_run=`, the launcher and narrowing/overrides, then run online or offline.

    A launcher makes the grid Hydra multiruns on it (online W&B runs grouped by the sweep name when W&B is
    online), since a W&B agent runs its jobs on the machine it was started on."""
    name = next((a.split("=", 1)[1] for a in args if a.startswith("sweep=")), "grid")
    dry_run = parse_bool("dry_run", next((a.split("=", 1)[1] for a in args if a.startswith("dry_run=")), "false"))
    launcher = tuple(a for a in args if is_launcher_override(a))
    rest = [a for a in args if not a.startswith(("sweep=", "dry_run=")) and not is_launcher_override(a)]
    spec, extra = narrow(load_sweep(name), rest)
    check_group_overrides(extra)
    check_launcher_overrides(list(launcher))
    check_grid(spec)
    from src.utils.loggers import resolve_wandb_mode  # imports Lightning: only once the grid is known good

    mode = resolve_wandb_mode("online")
    log.info("sweep %s: %d runs (%s), W&B %s", spec.name, len(grid(spec)),
             " x ".join(f"{k}: {len(v)}" for k, v in sorted(spec.swept.items())), mode)
    logger = "wandb" if mode == "online" else "wandb_offline"
    if dry_run and launcher:
        for i, phase in enumerate(cluster_phases(spec), 1):
            log.info("phase %d: python -m src.run %s", i, " ".join(phase.argv(launcher, logger)))
            log.info("phase %d submits (sbatch script):\n%s", i, slurm_job(launcher, phase.spec))
    elif dry_run:
        log.info("W&B spec: %s", wandb_spec(spec))
        log.info("multirun: python -m src.run %s", " ".join(multirun_argv(spec)))
    elif launcher:
        run_on_launcher(spec, launcher, logger)
    else:
        (run_online if mode == "online" else run_offline)(spec)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`difffake-sweep`)."""
    run_main(sweep, USAGE, argv)


if __name__ == "__main__":
    main()
