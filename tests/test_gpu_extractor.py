"""Stage 1 on CUDA (skipped without it): SAM under bf16 and fp16 autocast, channels_last, torch.compile,
export/load on the GPU; plus CPU checks that the GPU benchmark's parts work and that it skips cleanly."""

from __future__ import annotations

import logging

import pytest
import pytorch_lightning as pl
import torch

from benchmarks import bench_train_gpu
from benchmarks.bench_train import measure, synthetic_loader
from src.models.extractor.lightning import ExtractorModule
from src.models.extractor.net import load_extractor, save_extractor
from tests.test_extractor import TINY, one_thread, tiny_model  # noqa: F401  (autouse fixture)

cuda = pytest.mark.gpu


class SeenDevices(pl.Callback):
    """Device types of the module and of each batch during training steps (Lightning moves the module back
    to the CPU when fit ends)."""

    def __init__(self) -> None:
        self.types: set[str] = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.types |= {pl_module.device.type, batch["image"].device.type}


def fit_on_gpu(tmp_path, precision: str, steps: int = 4, channels_last: bool = False, compile: bool = False
               ) -> tuple[ExtractorModule, pl.Trainer, set[str]]:
    pl.seed_everything(0)
    module = tiny_model(channels_last, epochs=10)
    model = ExtractorModule(module.net, module.optim, compile=compile)
    seen = SeenDevices()
    trainer = pl.Trainer(accelerator="gpu", devices=1, precision=precision, max_steps=steps, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0,
                         benchmark=True, default_root_dir=str(tmp_path), callbacks=[seen])
    trainer.fit(model, synthetic_loader(steps, 16, 64))
    return model, trainer, seen.types


@cuda
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "32-true"])
def test_sam_trains_on_cuda(tmp_path, precision):
    model, trainer, seen = fit_on_gpu(tmp_path, precision, channels_last=True)
    assert seen == {"cuda"} and trainer.global_step >= 3  # fp16 may skip its first overflowing step
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    conv = model.net.backbone.conv_stem.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    if precision == "16-mixed":
        assert trainer.precision_plugin.scaler.get_scale() > 0


@cuda
def test_compiled_backbone_trains_and_keeps_plain_state_dict_keys(tmp_path):
    model, trainer, _ = fit_on_gpu(tmp_path, "bf16-mixed", steps=3, channels_last=True, compile=True)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert all(not k.startswith("_orig_mod") and "._orig_mod" not in k for k in model.state_dict())


@cuda
def test_export_on_gpu_loads_on_cpu_and_gpu_alike(tmp_path):
    model, _, _ = fit_on_gpu(tmp_path, "bf16-mixed", steps=2)
    save_extractor(model.net, tmp_path / "art")
    x = torch.randn(4, 3, 64, 64)
    cpu_logit, _ = load_extractor(tmp_path / "art")(x)
    gpu_logit, emb = load_extractor(tmp_path / "art", device="cuda")(x.cuda())
    assert emb.device.type == "cuda"
    torch.testing.assert_close(gpu_logit.cpu(), cpu_logit, atol=1e-2, rtol=1e-2)


def test_gpu_benchmark_skips_cleanly_without_cuda(caplog):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the benchmark runs for real with `make bench-gpu`")
    with caplog.at_level(logging.WARNING):
        assert bench_train_gpu.run() == []
    assert "CUDA is not available" in caplog.text


def test_gpu_benchmark_composes_the_paper_setup_through_hydra():
    cfg = bench_train_gpu.bench_config()
    assert (cfg.backbone.name, cfg.backbone.image_size, cfg.extractor.optimizer) == ("efficientnet_b4", 224, "sam")
    assert cfg.extractor.pairs_per_batch * 2 == bench_train_gpu.VARIANTS["fp32"].images_per_step == 32
    assert cfg.trainer.precision == "bf16-mixed" and cfg.blend.recipe == "sbi"
    assert {v.images_per_step for v in bench_train_gpu.VARIANTS.values()} == {32, 128}


def test_gpu_benchmark_parts_measure_the_real_datamodule_on_cpu(tmp_path):
    dm = bench_train_gpu.real_datamodule(tmp_path, workers=0, videos=2, frames=4, size=64, pairs=4)
    trainer = {"accelerator": "cpu", "devices": 1, "precision": "bf16-mixed"}
    real = measure(TINY, None, trainer, 1, 2, datamodule=dm)
    synthetic = measure(TINY, synthetic_loader(3, 8, 64), trainer, 1, 2)
    assert real > 0 and synthetic > 0
    assert dm.val_path.is_file()
