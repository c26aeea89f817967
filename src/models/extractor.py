"""Stage-1 feature extractor: a timm backbone plus a one-logit real/fake head, trained with SAM or AdamW.

`forward(images) -> (logit [B], embedding [B,D])`; sigmoid(logit) = P(fake). Stage 2 and scoring reuse the
module without Lightning through `load_extractor(artifact_dir)`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file, save
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from data_modules.io import atomic_write_bytes, atomic_write_json
from src.models.backbones import create_backbone
from src.models.sam import SAM, frozen_bn_stats
from src.utils.logging import get_logger

log = get_logger(__name__)

OPTIMIZERS = ("sam", "adamw")
WEIGHTS_NAME, META_NAME = "model.safetensors", "model.json"


def decay_factor(epoch: int, epochs: int, decay_start: float) -> float:
    """LR multiplier: 1 until decay_start * epochs, then linear, reaching 0 at `epochs`."""
    start = int(round(decay_start * epochs))
    if epoch < start or epochs <= start:
        return 1.0
    return max(0.0, (epochs - epoch) / (epochs - start))


def _plain(value: Any) -> Any:
    """Config values as JSON-able primitives (checkpoint hparams must load with weights_only=True)."""
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class FeatureExtractor(pl.LightningModule):
    """Backbone embedding -> linear logit, BCE against label 1 = fake; manual optimisation for SAM."""

    def __init__(self, backbone: dict[str, Any], optimizer: str = "sam", lr: float = 1e-3, momentum: float = 0.9,
                 rho: float = 0.05, weight_decay: float = 0.0, epochs: int = 100, decay_start: float = 0.75,
                 image_size: int = 224, mean: list[float] | None = None, std: list[float] | None = None,
                 channels_last: bool = False, compile: bool = False, weights_dir: str | None = None,
                 load_pretrained: bool = True) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"extractor.optimizer must be one of {OPTIMIZERS}, got '{optimizer}'")
        self.save_hyperparameters({
            "backbone": _plain(backbone), "optimizer": optimizer, "lr": float(lr), "momentum": float(momentum),
            "rho": float(rho), "weight_decay": float(weight_decay), "epochs": int(epochs),
            "decay_start": float(decay_start), "image_size": int(image_size),
            "mean": [float(m) for m in (mean or (0.485, 0.456, 0.406))],
            "std": [float(s) for s in (std or (0.229, 0.224, 0.225))],
            "channels_last": bool(channels_last), "compile": bool(compile),
            "weights_dir": None if weights_dir is None else str(weights_dir), "load_pretrained": bool(load_pretrained),
        })
        self.automatic_optimization = False
        backbone_cfg = dict(self.hparams.backbone, pretrained=bool(self.hparams.backbone.get("pretrained"))
                            and load_pretrained)
        self.backbone = create_backbone(backbone_cfg, weights_dir=weights_dir)
        self.head = nn.Linear(self.backbone.num_features, 1)
        if channels_last:
            self.to(memory_format=torch.channels_last)
        if compile:
            self.backbone.compile()
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    @classmethod
    def from_config(cls, backbone_cfg: Mapping[str, Any], extractor_cfg: Mapping[str, Any],
                    data_config: Mapping[str, Any], weights_dir: str | Path | None = None) -> FeatureExtractor:
        """Build from the backbone and extractor config groups and `backbone_data_config` output."""
        ext = _plain(extractor_cfg)
        return cls(backbone=_plain(backbone_cfg), optimizer=ext["optimizer"], lr=ext["lr"], momentum=ext["momentum"],
                   rho=ext["rho"], weight_decay=ext["weight_decay"], epochs=ext["epochs"],
                   decay_start=ext["decay_start"], image_size=data_config["image_size"], mean=data_config["mean"],
                   std=data_config["std"], channels_last=ext.get("channels_last", False),
                   compile=ext.get("compile", False), weights_dir=None if weights_dir is None else str(weights_dir))

    @property
    def image_size(self) -> int:
        """Square input side in pixels."""
        return self.hparams.image_size

    @property
    def mean(self) -> list[float]:
        """Per-channel normalisation mean (RGB, 0..1 scale)."""
        return list(self.hparams.mean)

    @property
    def std(self) -> list[float]:
        """Per-channel normalisation std (RGB, 0..1 scale)."""
        return list(self.hparams.std)

    @property
    def embed_dim(self) -> int:
        """Width D of the pooled embedding."""
        return int(self.backbone.num_features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images [B,3,S,S] -> (logit [B], embedding [B,D])."""
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        embedding = self.backbone(images)
        return self.head(embedding).squeeze(-1), embedding

    def _loss(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self(images)
        return F.binary_cross_entropy_with_logits(logits.float(), labels), logits.detach().float()

    def _sam_update(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Two forward/backward passes (both under the trainer's autocast); returns (loss, logits, skipped)."""
        opt = self.optimizers()
        sam: SAM = opt.optimizer
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        sam.zero_grad()
        loss, logits = self._loss(images, labels)
        self.manual_backward(loss)
        if scaler is not None:  # fp16: real gradients for the ascent step; an overflow skips the update
            scaler.unscale_(sam)
            finite = bool(torch.isfinite(sam.grad_norm()))
            scaler.update()
            if not finite:
                sam.zero_grad()
                return loss, logits, True
        sam.perturb()
        sam.zero_grad()
        with frozen_bn_stats(self):
            second, _ = self._loss(images, labels)
        self.manual_backward(second)
        sam.restore()
        opt.step()  # through Lightning: fp16 unscales, skips on inf and updates the scaler
        sam.zero_grad()
        return loss, logits, False

    def _plain_update(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        opt = self.optimizers()
        opt.zero_grad()
        loss, logits = self._loss(images, labels)
        self.manual_backward(loss)
        opt.step()
        return loss, logits, False

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """One optimiser update on a batch {"image", "label"}; logs train/loss, train/acc, train/lr."""
        images, labels = batch["image"], batch["label"].float()
        update = self._sam_update if self.hparams.optimizer == "sam" else self._plain_update
        loss, logits, skipped = update(images, labels)
        acc = ((logits > 0).float() == labels).float().mean()
        size = len(labels)
        self.log("train/loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=size,
                 sync_dist=True)
        self.log("train/acc", acc, on_step=True, on_epoch=True, batch_size=size, sync_dist=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=size)
        self.log("train/skipped_steps", float(skipped), on_step=False, on_epoch=True, reduce_fx="sum",
                 batch_size=size, sync_dist=True)
        return loss.detach()

    def on_train_epoch_start(self) -> None:
        """Step the per-epoch LR schedule up to the current epoch (also right after a resume)."""
        scheduler = self.lr_schedulers()
        with warnings.catch_warnings():  # after a resume the catch-up precedes this process's first step
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            while scheduler.last_epoch < self.current_epoch:
                scheduler.step()

    def on_validation_epoch_start(self) -> None:
        self._val_scores, self._val_labels = [], []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Loss, accuracy and scores of the fixed pseudo-fake validation set."""
        images, labels = batch["image"], batch["label"].float()
        loss, logits = self._loss(images, labels)
        acc = ((logits > 0).float() == labels).float().mean()
        self.log("val/loss", loss, on_epoch=True, batch_size=len(labels), sync_dist=True)
        self.log("val/acc", acc, on_epoch=True, batch_size=len(labels), sync_dist=True)
        self._val_scores.append(torch.sigmoid(logits))
        self._val_labels.append(labels)

    def on_validation_epoch_end(self) -> None:
        """ROC-AUC over every rank's scores of the whole validation set."""
        if not self._val_scores:
            return
        scores = self.all_gather(torch.cat(self._val_scores)).reshape(-1).cpu().numpy()
        labels = self.all_gather(torch.cat(self._val_labels)).reshape(-1).cpu().numpy()
        auc = float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")
        self.log("val/auc", auc, prog_bar=True, sync_dist=True)
        self._val_scores, self._val_labels = [], []

    def configure_optimizers(self) -> dict[str, Any]:
        """SAM over SGD or AdamW, with the constant-then-linear-decay schedule stepped once per epoch."""
        hp = self.hparams
        if hp.optimizer == "sam":
            optimizer = SAM(self.parameters(), torch.optim.SGD, rho=hp.rho, lr=hp.lr, momentum=hp.momentum,
                            weight_decay=hp.weight_decay)
        else:
            optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        scheduler = LambdaLR(optimizer, partial(decay_factor, epochs=hp.epochs, decay_start=hp.decay_start))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def export_extractor(model: FeatureExtractor, out_dir: Path, extra: Mapping[str, Any] | None = None) -> None:
    """Write model.safetensors (every weight) and model.json (what `load_extractor` needs), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(out_dir) / WEIGHTS_NAME, save(state))
    atomic_write_json(Path(out_dir) / META_NAME, {
        "hparams": dict(model.hparams), "backbone": model.hparams.backbone, "image_size": model.image_size,
        "mean": model.mean, "std": model.std, "embed_dim": model.embed_dim, **(extra or {}),
    })


def load_extractor(artifact_dir: Path | str, device: str | torch.device = "cpu") -> FeatureExtractor:
    """The exported extractor in eval mode, rebuilt offline (weights from model.safetensors, no download)."""
    artifact_dir = Path(artifact_dir)
    meta_path, weights_path = artifact_dir / META_NAME, artifact_dir / WEIGHTS_NAME
    if not (meta_path.is_file() and weights_path.is_file()):
        raise FileNotFoundError(f"{artifact_dir} holds no exported extractor ({META_NAME} + {WEIGHTS_NAME}); "
                                f"run the 'train_extractor' stage with the same config")
    hparams = json.loads(meta_path.read_text())["hparams"]
    model = FeatureExtractor(**{**hparams, "load_pretrained": False, "compile": False})
    model.load_state_dict(load_file(str(weights_path)), strict=True)
    return model.to(device).eval()
