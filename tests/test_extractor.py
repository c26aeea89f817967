"""ExtractorModule (training) around FeatureExtractorNet on CPU: SAM/AdamW learn, one batch overfits, AMP works, the LR schedule steps,
checkpoints load with weights_only=True, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.precision import MixedPrecision
from skimage.data import astronaut
from torch.utils.data import DataLoader, Dataset

from src.models.extractor.lightning import ExtractorModule, OptimSettings, decay_factor
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet, load_extractor, save_extractor
from src.models.extractor.sam import SAM

SIZE = 64
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
TINY = {"name": "test_efficientnet", "pretrained": False, "weights_file": None, "image_size": SIZE, "drop_rate": 0.0}
FACE = astronaut()[20:220, 150:310]  # the astronaut's face and some context


class CropsWithBlends(Dataset):
    """Even indices: random real face crops; odd: the same crop with a recoloured, blurred, softly blended patch."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index // 2])
        h, w = FACE.shape[:2]
        side = int(rng.integers(120, 150))
        y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        image = cv2.resize(FACE[y:y + side, x:x + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        label = index % 2
        if label:
            mask = np.zeros((SIZE, SIZE), np.float32)
            cv2.ellipse(mask, (SIZE // 2, SIZE // 2 + 4), (SIZE // 4, SIZE // 3), 0, 0, 360, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (9, 9), 3)[..., None]
            source = cv2.GaussianBlur(image, (5, 5), 2) * rng.uniform(0.8, 1.2, 3).astype(np.float32)
            image = mask * np.clip(source, 0, 255) + (1 - mask) * image
        tensor = (torch.from_numpy(image / 255.0).permute(2, 0, 1) - 0.5) / 0.5
        return {"image": tensor.float(), "label": torch.tensor(label, dtype=torch.int64)}


def loader(n: int = 32, batch: int = 16, seed: int = 0) -> DataLoader:
    return DataLoader(CropsWithBlends(n, seed), batch_size=batch, shuffle=False, num_workers=0)


def tiny_model(channels_last: bool = False, **optim) -> ExtractorModule:
    spec = ExtractorSpec(backbone=TINY, image_size=SIZE, mean=MEAN, std=STD, channels_last=channels_last)
    return ExtractorModule(FeatureExtractorNet.build(spec), OptimSettings(**{"lr": 0.05, "epochs": 4, **optim}))


def trainer(tmp_path: Path, epochs: int, **kw) -> pl.Trainer:
    args = {"accelerator": "cpu", "devices": 1, "max_epochs": epochs, "logger": False, "enable_progress_bar": False,
            "enable_model_summary": False, "deterministic": True, "num_sanity_val_steps": 0,
            "default_root_dir": str(tmp_path), **kw}
    return pl.Trainer(**args)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, above all when other jobs share the two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batch_loss(model: ExtractorModule, batch: dict) -> tuple[float, float]:
    """Loss and accuracy of `batch` in eval mode; the module is left in train mode."""
    model.eval()
    with torch.no_grad():
        logits, _ = model(batch["image"])
    model.train()
    labels = batch["label"].float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).item()
    return loss, ((logits > 0).float() == labels).float().mean().item()


def test_forward_returns_logit_and_embedding():
    torch.manual_seed(0)
    model = tiny_model().eval()
    logit, emb = model(torch.randn(3, 3, SIZE, SIZE))
    assert logit.shape == (3,) and emb.shape == (3, model.net.embed_dim) and model.net.embed_dim == 256


class StepLosses(pl.Callback):
    """Training loss of every step, as the module returned it."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize("optimizer,lr", [("sam", 0.05), ("adamw", 3e-3)])
def test_few_steps_lower_the_loss(tmp_path, optimizer, lr):
    pl.seed_everything(0)
    record = StepLosses()
    trainer(tmp_path, 5, limit_val_batches=0, callbacks=[record]).fit(
        tiny_model(optimizer=optimizer, lr=lr, epochs=100), loader(32, 16))
    first, last = np.mean(record.losses[:2]), np.mean(record.losses[-2:])
    assert len(record.losses) == 10 and last < 0.8 * first, record.losses


def test_one_batch_overfits(tmp_path):
    pl.seed_everything(0)
    record = StepLosses()
    t = trainer(tmp_path, 20, limit_val_batches=0, callbacks=[record])
    t.fit(tiny_model(optimizer="sam", lr=0.05, epochs=100), loader(16, 16))
    assert t.callback_metrics["train/acc_step"].item() == 1.0 and record.losses[-1] < 0.1, record.losses


def test_sam_restores_weights_and_updates_under_bf16_autocast(tmp_path):
    pl.seed_everything(0)
    model = tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    t = trainer(tmp_path, 1, precision="bf16-mixed", limit_train_batches=2, limit_val_batches=0)
    t.fit(model, loader(32, 16))
    opt = model.optimizers().optimizer
    assert isinstance(opt, SAM) and not opt._offsets  # not left perturbed
    assert opt.state and all("momentum_buffer" in s for s in opt.state.values())
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert "net.head.weight" in changed and any(k.startswith("net.backbone.conv_stem") for k in changed)
    assert math.isfinite(t.callback_metrics["train/loss"].item())


def test_fp16_scaler_skips_overflow_then_trains(tmp_path):
    """16-mixed on CPU through Lightning's own plugin: a huge initial scale overflows, SAM skips and backs off."""
    pl.seed_everything(0)
    model = tiny_model()
    start = model.net.head.weight.detach().clone()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120, growth_interval=1000)
    plugin = MixedPrecision("16-mixed", device="cpu", scaler=scaler)
    t = trainer(tmp_path, 1, plugins=[plugin], limit_train_batches=1, limit_val_batches=0)
    t.fit(model, loader(16, 16))
    assert t.callback_metrics["train/skipped_steps"].item() == 1.0
    assert torch.equal(model.net.head.weight, start) and scaler.get_scale() < 2.0**120
    scaler.update(new_scale=1024.0)
    t2 = trainer(tmp_path, 1, plugins=[MixedPrecision("16-mixed", device="cpu", scaler=scaler)],
                 limit_train_batches=1, limit_val_batches=0)
    t2.fit(model, loader(16, 16))
    assert t2.callback_metrics["train/skipped_steps"].item() == 0.0
    assert not torch.equal(model.net.head.weight, start)


def test_schedule_is_constant_then_linear_and_actually_steps(tmp_path):
    assert [decay_factor(e, 8, 0.75) for e in range(8)] == [1, 1, 1, 1, 1, 1, 1.0, 0.5]
    assert [decay_factor(e, 4, 0.5) for e in range(4)] == [1, 1, 1.0, 0.5]
    lrs = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    model = tiny_model(lr=0.1, epochs=4, decay_start=0.25)
    trainer(tmp_path, 4, limit_train_batches=1, limit_val_batches=0, callbacks=[Record()]).fit(model, loader(16, 16))
    assert lrs == pytest.approx([0.1, 0.1, 0.1 * 2 / 3, 0.1 * 1 / 3])


def test_checkpoint_loads_with_weights_only_and_holds_auc(tmp_path):
    pl.seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/auc", mode="max", save_top_k=1, save_last=True,
                           filename="epoch{epoch:03d}-auc{val/auc:.4f}", auto_insert_metric_name=False)
    t = trainer(tmp_path, 1, limit_train_batches=2, callbacks=[ckpt], enable_checkpointing=True)
    t.fit(tiny_model(), loader(32, 16), loader(32, 16, seed=99))
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["hyper_parameters"]["spec"]["backbone"]["name"] == "test_efficientnet"
    assert 0.0 <= t.callback_metrics["val/auc"].item() <= 1.0
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/auc"} <= set(t.callback_metrics)
    assert Path(ckpt.best_model_path).name.startswith("epoch000-auc")
    best = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)
    fresh = tiny_model()
    fresh.load_state_dict(best["state_dict"])
    assert fresh.net.embed_dim == 256 and best["hyper_parameters"]["optim"]["optimizer"] == "sam"


def test_resume_matches_uninterrupted_run(tmp_path):
    def fit(root: Path, epochs: int, ckpt_path: str | None = None) -> tuple[ExtractorModule, pl.Trainer]:
        pl.seed_everything(7)
        model = tiny_model(epochs=3, decay_start=0.3)
        cb = ModelCheckpoint(dirpath=root, save_last=True, save_top_k=0)
        t = trainer(root, epochs, limit_train_batches=2, callbacks=[cb])
        t.fit(model, loader(32, 16), loader(16, 16, seed=5), ckpt_path=ckpt_path)
        return model, t

    full, t_full = fit(tmp_path / "full", 3)
    fit(tmp_path / "part", 2)  # "interrupted" after two of three epochs
    resumed, t_res = fit(tmp_path / "part", 3, ckpt_path=str(tmp_path / "part" / "last.ckpt"))
    assert t_res.global_step == t_full.global_step
    for key in ("val/loss", "val/auc", "train/loss_epoch"):
        assert t_res.callback_metrics[key].item() == t_full.callback_metrics[key].item(), key
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_export_and_load_extractor_round_trip(tmp_path):
    torch.manual_seed(3)
    model = tiny_model(channels_last=True).net.eval()
    save_extractor(model, tmp_path, {"val_auc": 0.5})
    loaded = load_extractor(tmp_path)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        (la, ea), (lb, eb) = model(x), loaded(x)
    assert torch.equal(la, lb) and torch.equal(ea, eb) and not loaded.training
    assert (loaded.image_size, loaded.mean, loaded.std, loaded.embed_dim) == (SIZE, MEAN, STD, 256)
    assert loaded.spec == model.spec and loaded.spec.channels_last
    with pytest.raises(FileNotFoundError, match="train_extractor"):
        load_extractor(tmp_path / "nothing")
