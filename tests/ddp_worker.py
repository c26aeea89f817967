"""One rank of a multi-process stage-1 run, started by torchrun (see tests/test_ddp.py).

`python -m torch.distributed.run --nproc_per_node 2 -m tests.ddp_worker <out_dir> <override> ...` trains with the
stage's own DataModule and Trainer builder; every rank writes its final weights (rank<r>.safetensors) and a digest
of each training batch it saw (rank<r>.json).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from safetensors.torch import save_file

from src.artifacts.store import ArtifactStore
from src.config import compose_config
from src.models.extractor.backbones import backbone_data_config
from src.models.extractor.lightning import ExtractorModule, OptimSettings
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet
from src.stages import RunContext
from src.stages.train_extractor import build_datamodule, build_trainer


class RecordRank(Callback):
    """Digests of the batches this rank trained on; its weights when training ends."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir, self.batches = out_dir, []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self.batches.append(hashlib.sha256(batch["image"].cpu().numpy().tobytes()).hexdigest())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rank = trainer.global_rank
        state = {k: v.detach().cpu().contiguous() for k, v in pl_module.state_dict().items()}
        save_file(state, str(self.out_dir / f"rank{rank}.safetensors"))
        (self.out_dir / f"rank{rank}.json").write_text(json.dumps({
            "world_size": trainer.world_size, "backend": torch.distributed.get_backend(),
            "global_step": trainer.global_step, "batches": self.batches}))


def main(out_dir: Path, overrides: list[str]) -> None:
    cfg = compose_config(overrides, output_dir=out_dir / "run")
    pl.seed_everything(cfg.seed, workers=True)
    ctx = RunContext(cfg=cfg, run_dir=out_dir / "run", store=ArtifactStore(cfg.paths.artifact_dir))
    data_config = backbone_data_config(cfg.backbone)
    net = FeatureExtractorNet.build(ExtractorSpec.from_config(cfg.backbone, data_config))
    if cfg.trainer.get("sync_batchnorm"):
        raise ValueError("sync batch norm needs CUDA; run this CPU check with trainer.sync_batchnorm=false")
    torch.set_num_threads(1)
    model = ExtractorModule(net, OptimSettings.from_config(cfg.extractor))
    trainer = build_trainer(cfg.trainer, [RecordRank(out_dir)], [], out_dir / "run")
    trainer.fit(model, datamodule=build_datamodule(ctx, data_config))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
