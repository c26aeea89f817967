"""PseudoFakePreview: a real | fake | mask grid per validation epoch, as PNG and to W&B."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl

from data_modules.blending import PseudoFake
from data_modules.io import atomic_write_bytes
from src.utils.loggers import wandb_run
from src.utils.logging import get_logger

log = get_logger(__name__)

LABEL_PX = 18


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def preview_grid(samples: Sequence[PseudoFake], tile: int = 128) -> np.ndarray:
    """RGB uint8 grid: one column per sample (its mask type on top), rows real, fake, mask."""
    columns = []
    for s in samples:
        label = np.full((LABEL_PX, tile, 3), 255, np.uint8)
        cv2.putText(label, s.mask_type, (2, LABEL_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        mask = cv2.cvtColor(np.clip(s.mask * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
        columns.append(np.concatenate([label, _tile(s.real, tile), _tile(s.fake, tile), _tile(mask, tile)]))
    return np.concatenate(columns, axis=1)


class PseudoFakePreview(pl.Callback):
    """After each validation epoch (rank zero), draw `num_samples` pseudo-fakes from the DataModule's
    `preview_samples(count, epoch)` and save <out_dir or trainer.default_root_dir>/previews/epoch_XXX.png."""

    def __init__(self, out_dir: Path | str | None = None, num_samples: int = 8, tile: int = 128) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.num_samples, self.tile = num_samples, tile

    def png_path(self, trainer: pl.Trainer, epoch: int) -> Path:
        """Where the grid of `epoch` goes."""
        root = self.out_dir if self.out_dir is not None else Path(trainer.default_root_dir)
        return root / "previews" / f"epoch_{epoch:03d}.png"

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the grid and log it to W&B when a WandbLogger is attached."""
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        source = getattr(trainer, "datamodule", None)
        if source is None or not hasattr(source, "preview_samples"):
            log.warning("PseudoFakePreview: the trainer's datamodule has no preview_samples(); no preview written")
            return
        samples = source.preview_samples(self.num_samples, trainer.current_epoch)
        grid = preview_grid(samples, self.tile)
        path = self.png_path(trainer, trainer.current_epoch)
        ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode the preview grid for {path}")
        atomic_write_bytes(path, png.tobytes())
        run = wandb_run(trainer.loggers)
        if run is not None:
            import wandb

            caption = "rows: real, fake, mask | " + ", ".join(s.mask_type for s in samples)
            run.log({"previews/pseudo_fakes": wandb.Image(grid, caption=caption),
                     "trainer/global_step": trainer.global_step})
