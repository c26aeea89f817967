"""Top-k checkpoints where ties go to the later epoch, as the reference's training loop keeps them."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


class LaterTiesCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ties go to the later epoch (DiffFake train.py: `val_auc >= last_val_auc` replaces
    the oldest of the worst kept): a score equal to the k-th best enters the top k, evicting the oldest of the
    equal ones, and the best checkpoint is the latest of those with the best score."""

    def check_monitor_top_k(self, trainer: pl.Trainer, current: torch.Tensor | None = None) -> bool:
        full = current is not None and 0 < self.save_top_k <= len(self.best_k_models)
        if full and bool(current == self.best_k_models[self.kth_best_model_path]):
            return trainer.strategy.reduce_boolean_decision(True)
        return super().check_monitor_top_k(trainer, current)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        # best_k_models is in save order, and max()/min() return the first of equal scores: pick the last
        # instead, before the callback's state goes into the file
        if self.best_k_models:
            scores: dict[str, Any] = self.best_k_models
            best = (max if self.mode == "max" else min)(scores.values())
            self.best_model_path = [path for path, score in scores.items() if bool(score == best)][-1]
            self.best_model_score = scores[self.best_model_path]
        super()._save_checkpoint(trainer, filepath)
