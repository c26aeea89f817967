"""Every entry point ends an expected failure in one `error:` line naming the file or option and the fix (exit 2),
before any work; `--debug` shows the traceback. Cases run the real commands in subprocesses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.cli import InputFileError, UsageError
from data_modules.io import DamagedFileError, atomic_save_npz, load_npz
from src.config import compose_config
from tests.conftest import REPO_ROOT

TINY = ["experiment=demo_tiny", "extras.print_config=false", "logger=none"]


@dataclass(frozen=True)
class Case:
    """A command line (`{tmp}` stands for the case's folder), files to prepare there, and what the line names."""

    name: str
    module: str
    args: tuple[str, ...]
    names: tuple[str, ...]
    prepare: Callable[[Path], None] | None = None
    slow: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def run_cli(module: str, args: list[str], cwd: Path = REPO_ROOT, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` with offline settings; output of both streams in .stdout."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env={**full_env, **(env or {})},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


# ---- files the cases corrupt -------------------------------------------------------------------------------------

def _write(relative: str, text: str | bytes) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return prepare


def _run_dir(tmp: Path, config: str | None = None, results: str | None = None) -> None:
    """A run folder as src.run leaves it, with config.yaml / results.json replaced where given."""
    run = tmp / "runs" / "r1"
    run.mkdir(parents=True)
    cfg = compose_config(["experiment=demo_tiny"], output_dir=run)
    (run / "config.yaml").write_text(config if config is not None else OmegaConf.to_yaml(cfg, resolve=True))
    (run / "results.json").write_text(results if results is not None else json.dumps(
        {"task_name": "demo_tiny", "seed": 1, "stages": {"evaluate": {"metrics": {}, "primary": "gmm"}}}))


def _unfinished_run(tmp: Path) -> None:
    _run_dir(tmp)


def _folder_dataset(tmp: Path) -> None:
    for name in ("real/a.mp4", "fake/m/b.mp4"):
        (tmp / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "data" / name).write_bytes(b"not a video")


RUN = "src.run"
MISSING = "{tmp}/no_such_folder"
CASES: list[Case] = [
    # src.run: option types and ranges, keys, groups, stages, dataset roots; all before a run dir is made
    Case("run-epochs-text", RUN, (*TINY, "extractor.epochs=abc"), ("extractor.epochs=abc", "integer")),
    Case("run-epochs-zero", RUN, (*TINY, "extractor.epochs=0"), ("extractor.epochs=0", ">= 1")),
    Case("run-frames-negative", RUN, (*TINY, "data.frames_per_video=-5"), ("data.frames_per_video=-5",)),
    Case("run-frames-float", RUN, (*TINY, "data.frames_per_video=2.5"), ("data.frames_per_video=2.5",)),
    Case("run-batch-zero", RUN, (*TINY, "extractor.pairs_per_batch=0"), ("extractor.pairs_per_batch",)),
    Case("run-fpr-out-of-range", RUN, (*TINY, "eval.fpr_targets=[0,0.5]"), ("eval.fpr_targets", "(0, 1)")),
    Case("run-fpr-empty", RUN, (*TINY, "eval.fpr_targets=[]"), ("eval.fpr_targets",)),
    Case("run-head-batch", RUN, (*TINY, "head=deep_svdd", "head.batch_size=-1"), ("head.batch_size=-1", ">= 1")),
    Case("run-compared-head", RUN, (*TINY, "heads.gmm.n_components=0"), ("heads.gmm.n_components=0",)),
    Case("run-lr-negative", RUN, (*TINY, "extractor.lr=-1"), ("extractor.lr=-1", "> 0")),
    Case("run-workers-negative", RUN, (*TINY, "extractor.num_workers=-1"), ("extractor.num_workers=-1", "'auto'")),
    Case("run-face-workers-text", RUN, (*TINY, "face.num_workers=two"), ("face.num_workers=two",)),
    Case("run-decay-fraction", RUN, (*TINY, "extractor.decay_start=2"), ("extractor.decay_start=2", "[0, 1]")),
    Case("run-max-epochs", RUN, (*TINY, "trainer.max_epochs=0"), ("trainer.max_epochs=0",)),
    Case("run-pairs-frames", RUN, (*TINY, "pairs.max_frames=1"), ("pairs.max_frames=1",)),
    Case("run-bool-as-count", RUN, (*TINY, "eval.topk=true"), ("eval.topk=True",)),
    Case("run-unknown-group-option", RUN, (*TINY, "backbone=nope"), ("backbone 'nope'", "valid choices")),
    Case("run-unknown-key", RUN, (*TINY, "extractor.nope=1"), ("extractor.nope", "+extractor.nope")),
    Case("run-override-syntax", RUN, (*TINY, "extractor.epochs=["), ("extractor.epochs=[",)),
    Case("run-unknown-stage", RUN, (*TINY, "stages=[nope]"), ("stage 'nope'",)),
    Case("run-no-stage", RUN, (*TINY, "stages=[]"), ("stages=[]",)),
    Case("run-unknown-experiment", RUN, ("experiment=nope",), ("experiment 'nope'",)),
    Case("run-missing-root", RUN, (*TINY, "data=folder", f"data.root={MISSING}", "paths.log_dir={tmp}/logs"),
         ("data.root=", "no_such_folder", "does not exist")),
    Case("run-root-is-file", RUN, (*TINY, "data=folder", "data.root={tmp}/file.txt"), ("file.txt", "not a folder"),
         _write("file.txt", "x")),
    Case("run-split-fraction", RUN, (*TINY, "data=folder", "data.root={tmp}", "data.options.val_fraction=1.5"),
         ("data.options.val_fraction=1.5",)),
    Case("run-test-data-root", RUN, (*TINY, "+data@test_data.extra=folder", f"test_data.extra.root={MISSING}"),
         ("test_data.extra.root=", "no_such_folder")),
    # src.preprocess
    Case("preprocess-frames-zero", "src.preprocess", (*TINY, "data.frames_per_video=0"), ("data.frames_per_video=0",)),
    Case("preprocess-missing-root", "src.preprocess", ("data=folder", f"data.root={MISSING}"),
         ("data.root=", "no_such_folder")),
    Case("preprocess-min-face", "src.preprocess", (*TINY, "face.min_face_px=0"), ("face.min_face_px=0",)),
    Case("preprocess-jpeg-quality", "src.preprocess", (*TINY, "face.jpeg_quality=101"), ("face.jpeg_quality=101",)),
    Case("preprocess-unknown-data", "src.preprocess", ("data=nope",), ("data 'nope'",)),
    Case("preprocess-bare-word", "src.preprocess", ("frames",), ("frames",)),
    Case("preprocess-no-usable-video", "src.preprocess",
         ("data=folder", "data.root={tmp}/data", "paths.artifact_dir={tmp}/art", "face.num_workers=0"),
         ("no usable video", "folder"), _folder_dataset),
    # src.sweep: every run of the grid is checked before the first starts
    Case("sweep-dry-run-value", "src.sweep", ("dry_run=maybe",), ("dry_run=maybe", "true or false")),
    Case("sweep-bad-value", "src.sweep", ("dry_run=true", "extractor.epochs=abc"), ("extractor.epochs=abc",)),
    Case("sweep-bad-grid-option", "src.sweep", ("dry_run=true", "backbone=resnet50,nope"), ("backbone 'nope'",)),
    Case("sweep-bad-head-value", "src.sweep", ("dry_run=true", "heads.ocsvm.nu=0"), ("heads.ocsvm.nu=0",)),
    Case("sweep-unknown-sweep", "src.sweep", ("sweep=nope",), ("sweep", "nope.yaml", "valid choices")),
    Case("sweep-real-run-bad-value", "src.sweep", ("pair_op=abs", "head=gmm", "backbone=resnet50",
                                                  "eval.fpr_targets=[1.5]"), ("eval.fpr_targets",)),
    Case("sweep-missing-root", "src.sweep", ("dry_run=true", "data=folder", f"data.root={MISSING}"),
         ("data.root=", "no_such_folder")),
    # src.report
    Case("report-missing-runs", "src.report", (f"runs={MISSING}",), ("no_such_folder", "runs=")),
    Case("report-damaged-results", "src.report", ("runs={tmp}/runs",), ("results.json", "damaged", "delete"),
         lambda tmp: _run_dir(tmp, results='{"stages": {"evalu')),
    Case("report-damaged-config", "src.report", ("runs={tmp}/runs",), ("config.yaml", "damaged"),
         lambda tmp: _run_dir(tmp, config="paper: [\n  {table: ")),
    Case("report-unknown-argument", "src.report", ("runs={tmp}", "colour=red"), ("colour=red", "valid keys")),
    # src.score / src.export / src.app: argument ranges, missing and damaged run dirs and bundles
    Case("score-missing-video", "src.score", (f"video={MISSING}", "run={tmp}"), ("no_such_folder",), slow=True),
    Case("score-missing-run", "src.score", ("video={tmp}/v.mp4", f"run={MISSING}"), ("no_such_folder",
         "not a run directory"), _write("v.mp4", b"x"), slow=True),
    Case("score-damaged-config", "src.score", ("video={tmp}/v.mp4", "run={tmp}/runs/r1"), ("config.yaml", "damaged"),
         lambda tmp: (_write("v.mp4", b"x")(tmp), _run_dir(tmp, config="a: [b\n  c: {"))[0], slow=True),
    Case("score-unfinished-run", "src.score", ("video={tmp}/v.mp4", "run={tmp}/runs/r1"),
         ("artifact extractor/", "train_extractor"),
         lambda tmp: (_write("v.mp4", b"x")(tmp), _unfinished_run(tmp))[0], slow=True),
    Case("score-fpr-range", "src.score", ("video={tmp}", "run={tmp}", "fpr=2"), ("fpr=2.0", "(0, 1)"), slow=True),
    Case("score-fpr-text", "src.score", ("video={tmp}", "run={tmp}", "fpr=abc"), ("fpr=abc",), slow=True),
    Case("score-frames-zero", "src.score", ("video={tmp}", "run={tmp}", "frames=0"), ("frames=0",), slow=True),
    Case("score-run-and-bundle", "src.score", ("video={tmp}", "run={tmp}", "bundle={tmp}"), ("run= or bundle=",),
         slow=True),
    Case("score-missing-bundle", "src.score", ("video={tmp}/v.mp4", f"bundle={MISSING}"), ("no_such_folder",),
         _write("v.mp4", b"x"), slow=True),
    Case("score-not-a-bundle", "src.score", ("video={tmp}/v.mp4", "bundle={tmp}"), ("manifest.json",),
         _write("v.mp4", b"x"), slow=True),
    Case("score-damaged-manifest", "src.score", ("video={tmp}/v.mp4", "bundle={tmp}/b"), ("manifest.json", "damaged"),
         lambda tmp: (_write("v.mp4", b"x")(tmp), _write("b/manifest.json", '{"files": {')(tmp))[0], slow=True),
    Case("score-backend", "src.score", ("video={tmp}", "bundle={tmp}", "backend=tensorrt"), ("backend=tensorrt",),
         slow=True),
    Case("export-missing-run", "src.export", (f"run={MISSING}", "out={tmp}/b"), ("no_such_folder",), slow=True),
    Case("export-opset", "src.export", ("run={tmp}", "out={tmp}/b", "opset=3"), ("opset=3",), slow=True),
    Case("export-missing-out", "src.export", ("run={tmp}",), ("out=",), slow=True),
    Case("app-missing-bundle", "src.app", (f"bundle={MISSING}",), ("no_such_folder",), slow=True),
    Case("app-port", "src.app", ("bundle={tmp}", "port=0"), ("port=0",), slow=True),
    Case("app-fpr-text", "src.app", ("bundle={tmp}", "fpr=abc"), ("fpr=abc",), slow=True),
]


def _params() -> list:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_bad_input_ends_in_one_line_naming_it(case: Case, tmp_path: Path) -> None:
    if case.prepare is not None:
        case.prepare(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    done = run_cli(case.module, args, env=case.extra)
    errors = [line for line in done.stdout.splitlines() if line.startswith("error: ")]
    assert done.returncode == 2, done.stdout[-3000:]
    assert "Traceback" not in done.stdout, done.stdout[-3000:]
    assert len(errors) == 1, done.stdout[-3000:]
    for expected in case.names:
        assert expected.replace("{tmp}", str(tmp_path)) in errors[0], errors[0]
    if case.module != "src.preprocess":  # nothing written next to the inputs (no run dir, no config dump)
        created = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert created == before, created


def test_debug_shows_the_traceback() -> None:
    done = run_cli(RUN, [*TINY, "extractor.epochs=abc", "--debug"])
    assert done.returncode != 0 and "Traceback" in done.stdout and "ConfigValueError" in done.stdout
    done = run_cli("src.sweep", ["dry_run=maybe"], env={"HYDRA_FULL_ERROR": "1"})
    assert done.returncode != 0 and "Traceback" in done.stdout


def test_missing_data_root_fails_before_hydra_makes_a_run_dir(tmp_path: Path) -> None:
    done = run_cli(RUN, [*TINY, "data=folder", f"data.root={tmp_path}/none", f"paths.log_dir={tmp_path}/logs"])
    assert done.returncode == 2 and f"data.root={tmp_path}/none does not exist" in done.stdout
    assert not (tmp_path / "logs").exists(), "no run dir and no config dump for a run that cannot start"


def test_every_shipped_option_passes_validation() -> None:
    """No false alarms: each experiment, and each option of every group on the default config, validates."""
    from src.config import config_groups, group_choices
    from src.validation import validate_config

    overrides = [[f"experiment={e}"] for e in group_choices("experiment")]
    overrides += [[f"{g}={o}"] for g in config_groups() if g not in ("experiment", "sweep") for o in group_choices(g)]
    for override in overrides:
        validate_config(compose_config(override))


def test_validation_names_the_first_bad_option_with_a_valid_example() -> None:
    from src.validation import ConfigValueError, validate_config

    for override, message in (("eval.fusion.weights=[0.5,1.5]", "eval.fusion.weights=[0.5,1.5]: expected a list of "
                                                                  "numbers in [0, 1]"),
                              ("heads.deep_svdd.hidden=[0]", "heads.deep_svdd.hidden=[0]: expected a list of integers"),
                              ("backbone.image_size=null", None), ("head=gmm_paper", None),
                              ("trainer.limit_train_batches=0.25", None), ("extractor.lr=1e-4", None)):
        cfg = compose_config(["experiment=demo_tiny", override])
        if message is None:
            validate_config(cfg)
        else:
            with pytest.raises(ConfigValueError, match=re.escape(message)):
                validate_config(cfg)


# ---- defect 1: non-positive frame counts and caches without a usable video -----------------------------------------

def test_nonpositive_frames_per_video_is_refused_before_preprocessing(tmp_path: Path) -> None:
    for value in ("-5", "0"):
        done = run_cli("src.preprocess", [*TINY, f"data.frames_per_video={value}", f"paths.artifact_dir={tmp_path}"])
        assert done.returncode == 2 and "Traceback" not in done.stdout, done.stdout[-2000:]
        assert f"error: data.frames_per_video={value}: expected an integer >= 1" in done.stdout
        assert not (tmp_path / "faces").exists(), "no cache may be started, let alone completed"


def test_write_face_cache_refuses_nonpositive_frames(tmp_path: Path) -> None:
    from data_modules.preprocess.writer import write_face_cache

    with pytest.raises(UsageError, match=r"data.frames_per_video=0"):
        write_face_cache([], tmp_path, {"backend": "dlib", "num_workers": 0},
                         {"name": "x", "adapter": "folder", "root": str(tmp_path), "frames_per_video": 0})


def test_a_cache_without_a_usable_video_is_never_complete(tmp_path: Path) -> None:
    from src.artifacts.faces import KIND, build_face_cache
    from src.artifacts.keys import face_cache_key
    from src.artifacts.store import ArtifactStore

    _folder_dataset(tmp_path)
    cfg = compose_config(["data=folder", f"data.root={tmp_path / 'data'}", "face.num_workers=0"])
    store = ArtifactStore(tmp_path / "art")
    with pytest.raises(InputFileError, match="no usable video in dataset folder"):
        build_face_cache(store, cfg.data, cfg.face)
    key = face_cache_key(cfg.data, cfg.face)
    assert not store.is_complete(KIND, key) and not store.partial_path(KIND, key).exists()
    with pytest.raises(InputFileError):  # a rerun does not reuse it either
        build_face_cache(store, cfg.data, cfg.face)


# ---- damaged artifacts name the file and what to delete -----------------------------------------------------------

def test_truncated_npz_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "emb" / "embeddings.npz"
    atomic_save_npz(path, a=np.arange(1000))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DamagedFileError, match=r"embeddings.npz is damaged or truncated.*delete"):
        load_npz(path)
    from src.artifacts.embeddings import EmbeddingTable

    with pytest.raises(DamagedFileError, match=rf"delete {path.parent} and rerun the embed stage"):
        EmbeddingTable.load(path)


def test_truncated_checkpoint_is_named_before_resuming(tmp_path: Path) -> None:
    import torch

    from src.stages.train_extractor import check_checkpoint

    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(4096)}}, path)
    check_checkpoint(path)  # a whole checkpoint passes
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(DamagedFileError, match=r"last.ckpt is damaged.*delete .*last.ckpt"):
        check_checkpoint(path)


def test_uncalibrated_fpr_is_a_usage_error() -> None:
    from src.models.differential.calibration import Calibration

    cal = Calibration.from_json({"scorers": {"gmm": {"thresholds": {"0.05": 1.0}}}, "fusion": {},
                                 "n_val_real": 4, "n_val_pseudo_fake": 4})
    with pytest.raises(UsageError, match=r"fpr=0.2 was not calibrated.*0.05"):
        cal.thresholds(0.2)


# ---- a finished run with damaged files (slow: the session's tiny demo run) ------------------------------------------

def _copy_run(tiny_run: Path, tmp: Path) -> Path:
    """The finished run's detector files and its extractor artifact, copied so they can be damaged."""
    from src.artifacts.extractor import extractor_dir
    from src.artifacts.store import ArtifactStore
    from src.bundle.run import load_run_config

    cfg = load_run_config(tiny_run)
    run = tmp / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("wandb", "extractor", "*.png", "bundle"))
    source = extractor_dir(ArtifactStore(cfg.paths.artifact_dir), cfg)
    target = tmp / "art" / source.relative_to(cfg.paths.artifact_dir)
    shutil.copytree(source, target)
    cfg.paths.artifact_dir = str(tmp / "art")
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return run


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


DAMAGED = [
    ("scorer.json", "scorer.json", "fit_head"),
    ("calibration.json", "calibration.json", "fit_head"),
    ("heads/*/head.safetensors", "head.safetensors", "fit_head"),
    ("heads/*/head.json", "head.json", "fit_head"),
    ("art/extractor/*/model.safetensors", "model.safetensors", "train_extractor"),
    ("art/extractor/*/model.json", "model.json", "train_extractor"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("pattern", "named", "fix"), DAMAGED, ids=[d[1] for d in DAMAGED])
def test_score_names_the_damaged_artifact(tiny_run: Path, tmp_path: Path, pattern: str, named: str, fix: str) -> None:
    run = _copy_run(tiny_run, tmp_path)
    root = tmp_path if pattern.startswith("art/") else run
    targets = sorted(root.glob(pattern))
    assert targets, pattern
    _truncate(targets[0])
    video = next(p for p in sorted(Path(tiny_run).parent.rglob("*.mp4")))
    done = run_cli("src.score", [f"video={video}", f"run={run}", f"out={tmp_path / 'out'}"])
    assert done.returncode == 2 and "Traceback" not in done.stdout, done.stdout[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("error: "))
    assert named in line and "damaged" in line and fix in line, line


@pytest.mark.slow
def test_score_names_an_unfinished_run_and_an_uncalibrated_fpr(tiny_run: Path, tmp_path: Path) -> None:
    run = _copy_run(tiny_run, tmp_path)
    video = next(p for p in sorted(Path(tiny_run).parent.rglob("*.mp4")))
    done = run_cli("src.score", [f"video={video}", f"run={run}", "fpr=0.2", f"out={tmp_path / 'out'}"])
    assert done.returncode == 2 and "Traceback" not in done.stdout, done.stdout[-3000:]
    assert "error: fpr=0.2 was not calibrated" in done.stdout
    (run / "scorer.json").unlink()
    done = run_cli("src.score", [f"video={video}", f"run={run}", f"out={tmp_path / 'out'}"])
    assert done.returncode == 2 and "Traceback" not in done.stdout, done.stdout[-3000:]
    assert "has no scorer.json: run the fit_head stage" in done.stdout
