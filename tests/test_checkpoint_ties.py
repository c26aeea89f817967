"""Stage 1's checkpoint choice: ties in val/auc keep the later epoch, as the reference's training loop does."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from src.stages.train_extractor import checkpoint_callback


class Scripted(pl.LightningModule):
    """A one-weight model whose validation AUC per epoch is given."""

    def __init__(self, aucs: list[float]) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.aucs = aucs

    def training_step(self, batch, batch_idx):
        return (self.w - batch[0].mean()) ** 2

    def validation_step(self, batch, batch_idx):
        self.log("val/auc", self.aucs[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _best_epoch(tmp_path: Path, aucs: list[float], top_k: int) -> tuple[int, list[str]]:
    loader = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    ckpt = checkpoint_callback(tmp_path, top_k)
    trainer = pl.Trainer(max_epochs=len(aucs), callbacks=[ckpt], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    trainer.fit(Scripted(aucs), loader, loader)
    kept = sorted(p.name for p in Path(ckpt.dirpath).glob("epoch*.ckpt"))
    saved = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)
    state = torch.load(Path(ckpt.dirpath) / "last.ckpt", map_location="cpu", weights_only=True)
    callback_state = state["callbacks"][ckpt.state_key]
    assert callback_state["best_model_path"] == ckpt.best_model_path  # resuming keeps the same choice
    return int(saved["epoch"]), kept


@pytest.mark.parametrize("aucs,top_k,best,kept", [
    ([0.5, 0.8, 0.8, 0.7], 1, 2, ["epoch002-auc0.8000.ckpt"]),
    ([0.9, 0.9, 0.9], 1, 2, ["epoch002-auc0.9000.ckpt"]),
    ([0.6, 0.9, 0.6, 0.9, 0.6], 2, 3, ["epoch001-auc0.9000.ckpt", "epoch003-auc0.9000.ckpt"]),
    ([0.7, 0.6, 0.6, 0.5], 2, 0, ["epoch000-auc0.7000.ckpt", "epoch002-auc0.6000.ckpt"]),
])
def test_ties_in_val_auc_keep_the_later_epoch(tmp_path, aucs, top_k, best, kept):
    assert _best_epoch(tmp_path, aucs, top_k) == (best, kept)
