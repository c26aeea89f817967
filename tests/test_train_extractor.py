"""The train_extractor stage end to end on CPU: real face cache, real PseudoFakeDataModule, real Trainer;
export, reuse, and a crashed run that resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file

from src.artifacts.keys import extractor_key, face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from src.models.extractor.net import load_extractor
from src.stages import RunContext
from src.stages import train_extractor as stage
from src.utils.loggers import build_loggers, close_loggers
from tests.fixtures_faces import write_face_cache
from tests.test_extractor import one_thread  # noqa: F401  (autouse fixture)
from tests.wandb_records import history_rows, logged_values, offline_runs

VIDEOS = {"v0": "train", "v1": "train", "v2": "train", "v3": "val"}


def make_ctx(tmp_path: Path, name: str, logger: str = "none", extra: list[str] | None = None) -> RunContext:
    """A tiny stage-1 config over a 4-video astronaut face cache written into the store."""
    cfg = compose_config([
        "stages=[train_extractor]", "trainer=cpu", f"logger={logger}", f"paths.artifact_dir={tmp_path}/artifacts",
        "backbone.name=test_efficientnet", "backbone.pretrained=false", "backbone.image_size=64",
        "extractor.epochs=2", "extractor.pairs_per_batch=4", "extractor.num_workers=0", "extractor.val_size=16",
        "extractor.top_k=1", "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1", *(extra or []),
    ], output_dir=tmp_path / name)
    store = ArtifactStore(cfg.paths.artifact_dir)
    key = face_cache_key(cfg.data, cfg.face)
    if not store.is_complete("faces", key):
        with store.build("faces", key) as work:
            write_face_cache(work, VIDEOS, frames_per_video=3, size=96)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return RunContext(cfg=cfg, run_dir=run_dir, store=store, loggers=build_loggers(cfg, run_dir))


def run_stage(ctx: RunContext) -> dict:
    try:
        return stage.run(ctx)
    finally:
        close_loggers(ctx.loggers)


def test_stage_trains_exports_logs_and_is_reused(tmp_path):
    ctx = make_ctx(tmp_path, "run1", logger="wandb_offline")
    result = run_stage(ctx)
    art = ctx.store.path("extractor", extractor_key(ctx.cfg))
    assert result["reused"] is False and result["epochs"] == 2 and result["global_step"] == 4
    assert 0.0 <= result["val_auc"] <= 1.0 and result["best_checkpoint"].startswith("epoch")
    assert {p.name for p in (art / "checkpoints").iterdir()} == {"last.ckpt", result["best_checkpoint"]}
    meta = json.loads((art / "model.json").read_text())
    assert meta["image_size"] == 64 and meta["embed_dim"] == 256 and meta["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # the exported weights are the best checkpoint's, and load_extractor rebuilds them offline
    best = torch.load(art / "checkpoints" / result["best_checkpoint"], map_location="cpu", weights_only=True)
    exported = load_file(str(art / "model.safetensors"))
    assert all(torch.equal(exported[k.removeprefix("net.")], v) for k, v in best["state_dict"].items())
    model = load_extractor(art)
    with torch.no_grad():
        logit, emb = model(torch.zeros(2, 3, 64, 64))
    assert logit.shape == (2,) and emb.shape == (2, 256)
    (run,) = offline_runs(ctx.run_dir)
    logged = {k for row in history_rows(run) for k in row}
    assert {"train/loss_step", "train/acc_epoch", "val/loss", "val/acc", "val/auc", "train/lr"} <= logged
    assert any(k.startswith("previews/pseudo_fakes") for k in logged)
    aucs = logged_values(run, "val/auc")
    assert len(aucs) == 2 and max(aucs) == pytest.approx(result["val_auc"])
    assert sorted(p.name for p in (ctx.run_dir / "extractor" / "previews").iterdir()) == ["epoch_000.png",
                                                                                          "epoch_001.png"]
    again = run_stage(make_ctx(tmp_path, "run2"))
    assert again["reused"] is True and again["val_auc"] == result["val_auc"]


class Crash(pl.Callback):
    """Simulates a killed job at the start of epoch `at` (after epoch at-1's last.ckpt was written)."""

    def __init__(self, at: int = 1) -> None:
        self.at = at

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize(("workers", "epochs", "crash_at"), [(0, 2, 1), (2, 3, 2)])
def test_crashed_run_resumes_from_last_ckpt_to_the_uninterrupted_result(tmp_path, monkeypatch, workers, epochs,
                                                                          crash_at):
    extra = [f"extractor.num_workers={workers}", f"extractor.epochs={epochs}"]
    full = run_stage(make_ctx(tmp_path / "a", "full", extra=extra))
    full_weights = load_file(str(tmp_path / "a" / "artifacts" / "extractor" / full["artifact"] / "model.safetensors"))

    ctx = make_ctx(tmp_path / "b", "crash", extra=extra)
    key = extractor_key(ctx.cfg)
    with monkeypatch.context() as patch:
        patch.setattr(stage, "_preview_callbacks", lambda: [Crash(crash_at)])
        with pytest.raises(RuntimeError, match="simulated crash"):
            run_stage(ctx)
    last = ctx.store.partial_path("extractor", key) / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == crash_at - 1  # the latest epoch
    assert not ctx.store.is_complete("extractor", key)

    resumed = run_stage(make_ctx(tmp_path / "b", "resume", extra=extra))
    assert resumed["resumed"] is True and resumed["global_step"] == full["global_step"]
    assert resumed["val_auc"] == full["val_auc"] and resumed["val_auc_last"] == full["val_auc_last"]
    weights = load_file(str(ctx.store.path("extractor", key) / "model.safetensors"))
    assert weights.keys() == full_weights.keys()
    assert all(torch.equal(weights[k], full_weights[k]) for k in weights)


class _RunsCode:
    """Unpickling this creates a folder: the proof that a checkpoint ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.marker),)


def test_resume_never_unpickles_a_checkpoint_even_when_torch_is_told_to(tmp_path, monkeypatch):
    from data_modules.cli import InputFileError

    ctx = make_ctx(tmp_path, "evil")
    last = ctx.store.partial_path("extractor", extractor_key(ctx.cfg)) / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    marker = tmp_path / "code_ran"
    torch.save({"state_dict": {}, "epoch": 0, "global_step": 0, "payload": _RunsCode(marker)}, last)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(InputFileError, match=r"checkpoint .*last.ckpt holds more than weights and was refused .*"
                                             r"delete it to train stage 1 from the start") as info:
        run_stage(ctx)
    assert "\n" not in str(info.value)
    assert not marker.exists()
