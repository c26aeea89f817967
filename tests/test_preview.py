"""PseudoFakePreview with a real Lightning Trainer, the real DataModule and an offline W&B run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.loggers import WandbLogger

from data_modules.pseudo_fake import PseudoFakeDataModule
from src.callbacks.preview import LABEL_PX, PseudoFakePreview, preview_grid
from src.config import CONFIG_DIR
from tests.fixtures_faces import write_face_cache

SIZE, SAMPLES, TILE = 48, 3, 40


class TinyDetector(pl.LightningModule):
    """Mean colour -> logit: enough to drive a real fit loop over the DataModule's batches."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, 1)
        self.epochs_seen: list[int] = []

    def training_step(self, batch: dict, _: int) -> torch.Tensor:
        logits = self.head(batch["image"].mean((2, 3))).squeeze(1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["label"].float())

    def validation_step(self, batch: dict, _: int) -> None:
        self.log("val/loss", self.training_step(batch, 0))

    def on_train_epoch_start(self) -> None:
        self.epochs_seen.append(self.trainer.train_dataloader.sampler.epoch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_preview_png_and_wandb_image_each_validation_epoch(tmp_path: Path):
    cache = write_face_cache(tmp_path / "faces", {"a": "train", "b": "val"}, frames_per_video=2)
    dm = PseudoFakeDataModule([cache], [cache], OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"), SIZE,
                              (0.5,) * 3, (0.5,) * 3, pairs_per_batch=2, num_workers=0, val_size=4,
                              val_dir=tmp_path / "val", seed=3)
    logger = WandbLogger(save_dir=str(tmp_path), project="difffake-tests", mode="offline")
    model = TinyDetector()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=logger, default_root_dir=str(tmp_path / "run"),
                         callbacks=[PseudoFakePreview(num_samples=SAMPLES, tile=TILE)], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, datamodule=dm)
    run_dir = Path(logger.experiment.dir)
    logger.experiment.finish()

    assert model.epochs_seen == [0, 1]  # Lightning set the sampler's epoch
    for epoch in (0, 1):
        png = cv2.imread(str(tmp_path / "run" / "previews" / f"epoch_{epoch:03d}.png"))
        assert png.shape == (LABEL_PX + 3 * TILE, SAMPLES * TILE, 3)
        expected = preview_grid(dm.preview_samples(SAMPLES, epoch), TILE)
        np.testing.assert_array_equal(cv2.cvtColor(png, cv2.COLOR_BGR2RGB), expected)
    media = sorted((run_dir / "media" / "images" / "previews").glob("pseudo_fakes_*.png"))
    assert len(media) == 2
    assert cv2.imread(str(media[0])).shape == (LABEL_PX + 3 * TILE, SAMPLES * TILE, 3)


def test_grid_rows_are_real_fake_mask(tmp_path: Path):
    cache = write_face_cache(tmp_path / "faces", {"a": "train", "b": "val"}, frames_per_video=1)
    dm = PseudoFakeDataModule([cache], [cache], OmegaConf.load(CONFIG_DIR / "blend" / "sbi.yaml"), SIZE,
                              (0.5,) * 3, (0.5,) * 3, 1, 0, 2, tmp_path / "val", 0)
    (sample,) = dm.preview_samples(1, 0)
    grid = preview_grid([sample], SIZE)
    body = grid[LABEL_PX:]
    np.testing.assert_array_equal(body[:SIZE], cv2.resize(sample.real, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(body[SIZE:2 * SIZE],
                                  cv2.resize(sample.fake, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    mask_row = body[2 * SIZE:, :, 0].astype(np.float32) / 255
    assert np.abs(mask_row - sample.mask).max() < 2 / 255
    assert (grid[:LABEL_PX] < 128).any()  # the mask-type label is drawn
