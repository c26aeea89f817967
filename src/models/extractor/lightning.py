"""Stage-1 training around the plain network: BCE against label 1 = fake with SAM or AdamW, the per-epoch
LR schedule, and ROC-AUC on the fixed pseudo-fake validation set. The network is injected, never built here.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch.optim.lr_scheduler import LambdaLR

from data_modules.registry import Registry
from src.models.extractor.graphed import CapturedUpdate, capture_blocker
from src.models.extractor.net import FeatureExtractorNet
from src.models.extractor.sam import SAM, frozen_bn_stats
from src.utils.logging import get_logger

log = get_logger(__name__)

OPTIMIZERS: Registry[Any] = Registry("extractor.optimizer")


def decay_factor(epoch: int, epochs: int, decay_start: float) -> float:
    """LR multiplier: 1 until decay_start * epochs, then linear, reaching 0 at `epochs`."""
    start = int(round(decay_start * epochs))
    if epoch < start or epochs <= start:
        return 1.0
    return max(0.0, (epochs - epoch) / (epochs - start))


@dataclass(frozen=True)
class OptimSettings:
    """The `extractor` config group's optimisation: optimiser, its settings and the LR schedule."""

    optimizer: str = "sam"
    lr: float = 1e-3
    momentum: float = 0.9
    rho: float = 0.05
    weight_decay: float = 0.0
    epochs: int = 100
    decay_start: float = 0.75

    @classmethod
    def from_config(cls, extractor_cfg: Any) -> OptimSettings:
        """The optimisation fields of the `extractor` config group, typed."""
        return cls(optimizer=str(extractor_cfg["optimizer"]), lr=float(extractor_cfg["lr"]),
                   momentum=float(extractor_cfg["momentum"]), rho=float(extractor_cfg["rho"]),
                   weight_decay=float(extractor_cfg["weight_decay"]), epochs=int(extractor_cfg["epochs"]),
                   decay_start=float(extractor_cfg["decay_start"]))


@OPTIMIZERS.register("sam")
def _sam(params: Any, o: OptimSettings) -> torch.optim.Optimizer:
    return SAM(params, torch.optim.SGD, rho=o.rho, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


@OPTIMIZERS.register("adamw")
def _adamw(params: Any, o: OptimSettings) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)


class ExtractorModule(pl.LightningModule):
    """Trains an injected FeatureExtractorNet; manual optimisation so SAM can take its two passes."""

    def __init__(self, net: FeatureExtractorNet, optim: OptimSettings = OptimSettings(), compile: bool = False,
                 cuda_graphs: bool = False) -> None:
        super().__init__()
        OPTIMIZERS.check(optim.optimizer)
        # primitives only: checkpoints must load with weights_only=True
        self.save_hyperparameters({"spec": asdict(net.spec), "optim": asdict(optim), "compile": bool(compile),
                                   "cuda_graphs": bool(cuda_graphs)})
        self.automatic_optimization = False
        self.net, self.optim = net, optim
        self.compiled, self.cuda_graphs = bool(compile), bool(cuda_graphs)
        if compile:
            self.net.backbone.compile()
        self.captured: CapturedUpdate | None = None  # set in on_train_start when capture is possible
        self.eager_reason: str | None = None  # why cuda_graphs=true fell back to eager
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images [B,3,S,S] -> (logit [B], embedding [B,D])."""
        return self.net(images)

    def _loss(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _ = self(images)
        return F.binary_cross_entropy_with_logits(logits.float(), labels), logits.detach().float()

    def _sam_update(self, images: torch.Tensor, labels: torch.Tensor, capturing: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Two forward/backward passes (both under the trainer's autocast); returns (loss, logits, skipped).

        capturing: recorded into a CUDA graph, so plain backward passes (no host-side hooks), gradients kept
        as the graph's static buffers, and the base step taken here (a replay then goes through `opt.step`).
        """
        opt = self.optimizers()
        sam: SAM = opt.optimizer
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        backward = torch.Tensor.backward if capturing else self.manual_backward
        if not capturing:  # a capture starts with no gradients, so its first backward writes, not accumulates
            sam.zero_grad()
        loss, logits = self._loss(images, labels)
        backward(loss)
        if scaler is not None:  # fp16: real gradients for the ascent step; an overflow skips the update
            scaler.unscale_(sam)
            finite = bool(torch.isfinite(sam.grad_norm()))
            scaler.update()
            if not finite:
                sam.zero_grad()
                return loss, logits, True
        sam.perturb()
        sam.zero_grad(set_to_none=not capturing)
        with frozen_bn_stats(self):
            second, _ = self._loss(images, labels)
        backward(second)
        sam.restore()
        if capturing:
            sam.base_optimizer.step()
            return loss, logits, False
        opt.step()  # through Lightning: fp16 unscales, skips on inf and updates the scaler
        sam.zero_grad()
        return loss, logits, False

    def _graphed_update(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Eager warm-up updates on a side stream, then the captured update replayed (recaptured when the batch
        shape or the learning rate changes)."""
        captured = self.captured
        assert captured is not None
        if captured.warming_up:
            with captured.warmup_stream():
                return self._sam_update(images, labels)
        opt = self.optimizers()
        key = (tuple(images.shape), tuple(float(g["lr"]) for g in opt.param_groups))
        if captured.needs_capture(key):
            opt.optimizer.zero_grad(set_to_none=True)
            captured.capture(partial(self._sam_update, capturing=True), images, labels, key)
            log.info("captured the SAM update in a CUDA graph (capture %d, batch %s, lr %s)", captured.captures,
                     list(images.shape), key[1])
        loss, logits = opt.step(closure=partial(captured.replay, images, labels), closure_steps=True)
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
        if self.captured is not None:
            update = self._graphed_update
        else:
            update = self._sam_update if isinstance(self.optimizers().optimizer, SAM) else self._plain_update
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

    def on_train_start(self) -> None:
        """With cuda_graphs: capture the updates when this setup allows it, else say why training stays eager."""
        if not self.cuda_graphs:
            return
        self.eager_reason = capture_blocker(
            self.device, self.optimizers().optimizer, getattr(self.trainer.precision_plugin, "scaler", None) is not None,
            self.trainer.world_size, self.compiled)
        if self.eager_reason is None:
            self.captured = CapturedUpdate()
        else:
            log.warning("extractor.cuda_graphs=true falls back to eager updates: %s", self.eager_reason)

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
        """The configured optimiser with the constant-then-linear-decay schedule stepped once per epoch."""
        o = self.optim
        optimizer = OPTIMIZERS.get(o.optimizer)(self.parameters(), o)
        scheduler = LambdaLR(optimizer, partial(decay_factor, epochs=o.epochs, decay_start=o.decay_start))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
