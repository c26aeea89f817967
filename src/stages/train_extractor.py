"""Stage 1: train the feature extractor on pseudo-fakes of cached real faces, resumably, and export it.

Checkpoints live in the artifact's .partial directory while training, so rerunning the same command resumes
from last.ckpt; the finished artifact holds model.safetensors + model.json (see src.models.extractor).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from data_modules.cli import InputFileError
from data_modules.io import DamagedFileError
from data_modules.pseudo_fake import PseudoFakeDataModule
from src.artifacts.extractor import CHECKPOINT_DIR, KIND, LAST
from src.artifacts.faces import open_face_cache
from src.artifacts.keys import extractor_key, pseudo_val_key
from src.callbacks.checkpoint import LaterTiesCheckpoint
from src.models.extractor.backbones import backbone_data_config
from src.models.extractor.lightning import ExtractorModule, OptimSettings
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet, save_extractor
from src.models.extractor.sync_bn import TimmSyncBatchNorm
from src.stages import RunContext
from src.utils.logging import get_logger

log = get_logger(__name__)


def build_datamodule(ctx: RunContext, data_config: dict[str, Any]) -> PseudoFakeDataModule:
    """Pseudo-fakes from cfg.data's training reals, validated on its val reals (fixed set in the store)."""
    cfg = ctx.cfg
    cache = open_face_cache(ctx.store, cfg.data, cfg.face)
    ext = cfg.extractor
    return PseudoFakeDataModule(
        train_caches=[cache], val_caches=[cache], blend_cfg=cfg.blend, image_size=data_config["image_size"],
        mean=data_config["mean"], std=data_config["std"], pairs_per_batch=ext.pairs_per_batch,
        num_workers=ext.num_workers, val_size=ext.val_size,
        val_dir=ctx.store.path("pseudo_val", pseudo_val_key(cfg)), seed=cfg.seed,
        prefetch_factor=int(ext.get("prefetch_factor", 2)),
    )


class EveryEpochLast(LaterTiesCheckpoint):
    """Top-k by the monitor, and last.ckpt after every validation: Lightning 2.6 writes last.ckpt only with a
    top-k save, so a run killed after an epoch that did not improve would resume from an older one."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Lightning's saves, then last.ckpt when it made none (the file's state includes the new top k)."""
        due = not self._should_skip_saving_checkpoint(trainer) and self._should_save_on_train_epoch_end(trainer)
        super().on_train_epoch_end(trainer, pl_module)
        self._save_last_if_missing(trainer, due)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """As on_train_epoch_end, for runs that save after validation (val_check_interval < 1 and such)."""
        due = not self._should_skip_saving_checkpoint(trainer) and not self._should_save_on_train_epoch_end(trainer)
        super().on_validation_end(trainer, pl_module)
        self._save_last_if_missing(trainer, due)

    def _save_last_if_missing(self, trainer: pl.Trainer, due: bool) -> None:
        if due and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def checkpoint_callback(work_dir: Path, top_k: int) -> ModelCheckpoint:
    """Top-k checkpoints by val/auc (ties: the later epoch) plus last.ckpt after every epoch, in the artifact's
    work directory."""
    return EveryEpochLast(dirpath=work_dir / CHECKPOINT_DIR, filename="epoch{epoch:03d}-auc{val/auc:.4f}",
                           monitor="val/auc", mode="max", save_top_k=top_k, save_last=True,
                           auto_insert_metric_name=False)


def _preview_callbacks() -> list[Callback]:
    try:
        from src.callbacks.preview import PseudoFakePreview
    except ImportError as err:
        log.warning("pseudo-fake previews are off: %s", err)
        return []
    return [PseudoFakePreview()]


def build_trainer(trainer_cfg: DictConfig, callbacks: list[Callback], loggers: list, root_dir: Path) -> pl.Trainer:
    """Lightning Trainer from the `trainer` config group (accelerator, precision, strategy, devices...).

    `sync_batchnorm: true` goes through timm's converter (TimmSyncBatchNorm), never Lightning's own, which would
    strip the activations out of timm's BatchNormAct2d layers.
    """
    kwargs = OmegaConf.to_container(trainer_cfg, resolve=True)
    plugins = [TimmSyncBatchNorm()] if kwargs.pop("sync_batchnorm", False) else []
    return pl.Trainer(**kwargs, sync_batchnorm=False, plugins=plugins, callbacks=callbacks, logger=loggers or False,
                      default_root_dir=str(root_dir))


def _summary(checkpoint: ModelCheckpoint, trainer: pl.Trainer, resumed: bool) -> dict[str, Any]:
    best = checkpoint.best_model_score
    last_auc = trainer.callback_metrics.get("val/auc")
    return {"val_auc": None if best is None else float(best),
            "val_auc_last": None if last_auc is None else float(last_auc),
            "best_checkpoint": Path(checkpoint.best_model_path).name or LAST,
            "epochs": int(trainer.current_epoch), "global_step": int(trainer.global_step), "resumed": resumed}


def _train(ctx: RunContext, key: str) -> dict[str, Any] | None:
    """Fit (resuming from last.ckpt when the work directory has one); rank zero exports the best weights."""
    cfg, store = ctx.cfg, ctx.store
    pl.seed_everything(cfg.seed, workers=True)
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 matmuls for the fp32 parts on Ampere and later
    data_config = backbone_data_config(cfg.backbone)
    datamodule = build_datamodule(ctx, data_config)
    spec = ExtractorSpec.from_config(cfg.backbone, data_config, bool(cfg.extractor.get("channels_last", False)))
    net = FeatureExtractorNet.build(spec, weights_dir=cfg.paths.weights_dir)
    model = ExtractorModule(net, OptimSettings.from_config(cfg.extractor), bool(cfg.extractor.get("compile", False)),
                            cuda_graphs=bool(cfg.extractor.get("cuda_graphs", False)))
    work = store.partial_path(KIND, key)
    checkpoint = checkpoint_callback(work, int(cfg.extractor.top_k))
    trainer = build_trainer(cfg.trainer, [checkpoint, *_preview_callbacks()], ctx.loggers,
                            ctx.run_dir / "extractor")
    last = work / CHECKPOINT_DIR / LAST
    resumed = last.is_file()
    if resumed:
        log.info("resuming stage-1 training from %s", last)
        check_checkpoint(last)
    try:  # weights_only=True even when TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set: a checkpoint never runs code
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(last) if resumed else None, weights_only=True)
    except pickle.UnpicklingError as err:
        raise InputFileError(f"checkpoint {last} holds more than weights and was refused (unpickling it could run "
                             f"code): {str(err).splitlines()[0]}; delete it to train stage 1 from the start") from err
    if not trainer.is_global_zero:
        trainer.strategy.barrier()  # wait until rank zero has exported
        return None
    summary = _summary(checkpoint, trainer, resumed)
    with store.build(KIND, key, meta=summary) as out:
        best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(state)
        save_extractor(model.net, out, {"checkpoint": best.name, "val_auc": summary["val_auc"], "key": key})
    trainer.strategy.barrier()
    log.info("stage 1: best val/auc %s from %s; exported to %s", summary["val_auc"], best.name,
             store.path(KIND, key))
    return summary


def check_checkpoint(path: Path) -> None:
    """A truncated or corrupt checkpoint (a torch zip archive) is a DamagedFileError saying what to delete; the
    archive's CRCs are checked without unpickling anything."""
    fix = f"delete {path} to restart stage-1 training from the start (the other checkpoints stay)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DamagedFileError(f"{path} is damaged or truncated ({type(err).__name__}: {err}); {fix}") from err
    if bad is not None:
        raise DamagedFileError(f"{path} is damaged (bad CRC in {bad}); {fix}")


def run(ctx: RunContext) -> dict[str, Any]:
    """Train (or reuse) the extractor artifact for this config; returns val AUC and where it lives."""
    key = extractor_key(ctx.cfg)
    # the launching process holds the lock; DDP ranks that Lightning starts (LOCAL_RANK set) must not wait on it
    with ctx.store.lock(KIND, key) if "LOCAL_RANK" not in os.environ else nullcontext():
        if ctx.store.is_complete(KIND, key):
            log.info("reusing extractor %s", ctx.store.path(KIND, key))
            return {**ctx.store.read_meta(KIND, key), "artifact": key, "reused": True}
        summary = _train(ctx, key)
    if summary is None:
        return {"artifact": key, "exported_by_rank_zero": True}
    return {**summary, "artifact": key, "reused": False}
