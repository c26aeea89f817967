"""extractor.cuda_graphs: where capture is impossible (CPU, fp16 scaler, compile, DDP, AdamW) training falls back
to eager with the reason logged and trains exactly as eager; on CUDA the replayed graph tracks eager's loss."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
import pytorch_lightning as pl
import torch

from benchmarks.graph_vs_eager import loss_curve
from src.models.extractor.graphed import CapturedUpdate, capture_blocker
from src.models.extractor.lightning import ExtractorModule
from src.models.extractor.sam import SAM
from tests.test_extractor import TINY, loader, one_thread, tiny_model, trainer  # noqa: F401  (autouse fixture)


def fit(tmp_path, cuda_graphs: bool, **kw) -> ExtractorModule:
    pl.seed_everything(0)
    base = tiny_model()
    model = ExtractorModule(base.net, base.optim, cuda_graphs=cuda_graphs)
    trainer(tmp_path, 1, limit_train_batches=2, limit_val_batches=0, **kw).fit(model, loader(32, 16))
    return model


def test_cpu_falls_back_to_eager_with_the_reason_and_trains_identically(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="src.models.extractor.lightning"):
        graphed = fit(tmp_path / "g", cuda_graphs=True)
    assert "extractor.cuda_graphs=true falls back to eager updates: the module runs on cpu" in caplog.text
    assert graphed.captured is None and "CUDA graphs need a CUDA device" in graphed.eager_reason
    eager = fit(tmp_path / "e", cuda_graphs=False)
    assert eager.eager_reason is None
    for (key, a), b in zip(eager.state_dict().items(), graphed.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_each_blocker_is_named():
    params = [torch.nn.Parameter(torch.zeros(2))]
    sam, cpu, cuda = SAM(params, torch.optim.SGD, lr=0.1), torch.device("cpu"), torch.device("cuda")
    assert "AdamW" in capture_blocker(cuda, torch.optim.AdamW(params), False, 1, False)
    assert "GradScaler" in capture_blocker(cuda, sam, True, 1, False)
    assert "compile" in capture_blocker(cuda, sam, False, 1, True)
    assert "2 processes" in capture_blocker(cuda, sam, False, 2, False)
    assert "cpu" in capture_blocker(cpu, sam, False, 1, False)
    assert capture_blocker(cuda, sam, False, 1, False) is None


def test_closure_steps_runs_only_the_closure():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    sam = SAM([p], torch.optim.SGD, lr=0.5)
    assert sam.step(closure=lambda: "replayed", closure_steps=True) == "replayed"
    assert torch.equal(p.detach(), torch.ones(2))  # the base step was the closure's job
    sam.step()
    assert torch.equal(p.detach(), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match="needs the closure"):
        sam.step(closure_steps=True)


class EagerReplay(CapturedUpdate):
    """The capture/replay protocol run eagerly on the CPU, with a graph's gradient semantics (each replay's
    first backward writes the gradients afresh): checks the plumbing around the graph, not CUDA."""

    @contextmanager
    def warmup_stream(self):
        yield
        self.eager_steps += 1

    def capture(self, update, images, labels, key):
        self.update, self.key, self.graph = update, key, "captured"
        self.captures += 1

    def replay(self, images, labels):
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():  # a graph replays recorded kernels; run eagerly inside SAM.step's no_grad
            loss, logits, _ = self.update(images, labels)
        return loss.detach(), logits.detach()


class ReplayingModule(ExtractorModule):
    def on_train_start(self) -> None:
        self.captured = EagerReplay()
        self.captured.optimizer = self.optimizers().optimizer


def test_replay_path_counts_steps_and_trains_like_eager_on_cpu(tmp_path):
    pl.seed_everything(0)
    base = tiny_model(epochs=4, decay_start=0.25)
    replayed = ReplayingModule(base.net, base.optim)
    t = trainer(tmp_path / "r", 3, limit_train_batches=5, limit_val_batches=0)
    t.fit(replayed, loader(80, 16))
    # 3 eager warm-up updates, then one capture per learning rate (1, 1, 2/3 of lr over the 3 epochs)
    assert t.global_step == 15 and replayed.captured.eager_steps == 3 and replayed.captured.captures == 2
    pl.seed_everything(0)
    base = tiny_model(epochs=4, decay_start=0.25)
    eager = ExtractorModule(base.net, base.optim)
    trainer(tmp_path / "e", 3, limit_train_batches=5, limit_val_batches=0).fit(eager, loader(80, 16))
    assert not replayed.optimizers().optimizer._offsets
    for (key, a), b in zip(eager.state_dict().items(), replayed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=key)


def test_loss_curve_script_runs_on_cpu_and_reports_the_fallback():
    losses, model = loss_curve(TINY, 3, 8, "32-true", cuda_graphs=True, accelerator="cpu")
    assert len(losses) == 3 and all(loss > 0 for loss in losses) and "cpu" in model.eager_reason


@pytest.mark.gpu
def test_graph_tracks_eager_loss_over_50_bf16_steps():
    backbone = {**TINY, "image_size": 64}
    eager, _ = loss_curve(backbone, 50, 16, "bf16-mixed", cuda_graphs=False)
    graph, model = loss_curve(backbone, 50, 16, "bf16-mixed", cuda_graphs=True)
    assert model.eager_reason is None and model.captured is not None and model.captured.captures == 1
    assert len(eager) == len(graph) == 50
    assert max(abs(a - b) for a, b in zip(eager, graph, strict=True)) < 0.05, (eager, graph)
    assert sum(graph[-10:]) < sum(graph[:10])  # and it learns


@pytest.mark.gpu
def test_graph_recaptures_when_the_learning_rate_changes(tmp_path):
    pl.seed_everything(0)
    base = tiny_model(epochs=4, decay_start=0.25)
    model = ExtractorModule(base.net, base.optim, cuda_graphs=True)
    t = pl.Trainer(accelerator="gpu", devices=1, precision="bf16-mixed", max_epochs=3, limit_train_batches=5,
                   limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   default_root_dir=str(tmp_path))
    t.fit(model, loader(80, 16))
    assert model.captured.captures == 2 and t.global_step == 15  # lr 1, 1, 2/3 of the base over the epochs
    assert torch.isfinite(t.callback_metrics["train/loss"])
