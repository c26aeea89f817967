"""Deep SVDD head (Ruff et al., ICML 2018): a plain torch net, a thin LightningModule, a real Lightning Trainer.

Collapse guards: no bias terms, affine-free BatchNorm, unbounded LeakyReLU activations, and a centre c taken
from the mean of a forward pass in eval mode (as Ruff et al.'s init_center_c) with near-zero coordinates pushed
to +-eps, then kept fixed. Optional autoencoder pretraining (pretrain_epochs > 0, Ruff et al.'s AE) trains the
network as the encoder of a mirrored bias-free decoder before the centre is taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from src.models.differential.heads.base import HEADS, Head, as_features
from src.utils.logging import get_logger

log = get_logger(__name__)
OBJECTIVES = ("one-class", "soft-boundary")
_BOUNDED = (nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Softsign)


@dataclass
class DeepSVDDParams:
    """Network shape, objective and optimisation (Adam + weight decay + MultiStepLR)."""

    objective: str = "one-class"
    nu: float = 0.1
    hidden: list[int] = field(default_factory=lambda: [128])
    rep_dim: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-6
    epochs: int = 6
    lr_milestones: list[int] = field(default_factory=lambda: [5])
    batch_size: int = 512
    eps: float = 0.1
    warmup_epochs: int = 3
    accelerator: str = "cpu"
    cpu_threads: int | None = 1
    pretrain_epochs: int = 0


class DeepSVDDNet(nn.Module):
    """Bias-free MLP: Linear(bias=False) -> BatchNorm1d(affine=False) -> LeakyReLU, then a bias-free projection."""

    def __init__(self, in_dim: int, hidden: list[int], rep_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h, eps=1e-4, affine=False), nn.LeakyReLU()]
            width = h
        layers.append(nn.Linear(width, rep_dim, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def check_collapse_guards(net: nn.Module) -> None:
    """Refuse a network that could map every input to one constant point (bias, affine BN, bounded activation)."""
    for name, module in net.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            raise ValueError(f"Deep SVDD BatchNorm '{name}' is affine: its shift acts as a bias; use affine=False")
        if getattr(module, "bias", None) is not None:
            raise ValueError(f"Deep SVDD network has a bias term in '{name}': biases allow hypersphere collapse")
        if isinstance(module, _BOUNDED):
            raise ValueError(f"Deep SVDD network uses a bounded activation in '{name}' ({type(module).__name__})")


def push_from_zero(c: torch.Tensor, eps: float) -> torch.Tensor:
    """Coordinates with |c_i| < eps set to +-eps (sign kept, 0 -> +eps), as in Ruff et al."""
    c = c.clone()
    small = c.abs() < eps
    c[small & (c < 0)] = -eps
    c[small & (c >= 0)] = eps
    return c


class DeepSVDDModule(pl.LightningModule):
    """Thin LightningModule: the one-class or soft-boundary loss around a fixed centre."""

    def __init__(self, net: DeepSVDDNet, params: DeepSVDDParams) -> None:
        super().__init__()
        if params.objective not in OBJECTIVES:
            raise ValueError(f"deep_svdd objective '{params.objective}'; valid choices: {', '.join(OBJECTIVES)}")
        check_collapse_guards(net)
        self.net, self.p = net, params
        self.register_buffer("c", torch.zeros(params.rep_dim))
        self.register_buffer("R", torch.zeros(()))
        self.centre_ready = False
        self._epoch_dist: list[torch.Tensor] = []

    def set_centre(self, c: torch.Tensor) -> None:
        """Fix the centre; refuses coordinates closer to 0 than eps (a zero centre invites collapse)."""
        if c.shape != self.c.shape or (c.abs() < self.p.eps).any():
            raise ValueError(f"Deep SVDD centre must have shape {tuple(self.c.shape)} and |c_i| >= eps={self.p.eps}; "
                             "initialise it with init_centre(loader)")
        self.c.copy_(c)
        self.centre_ready = True

    @torch.no_grad()
    def init_centre(self, loader: DataLoader) -> torch.Tensor:
        """c = mean network output over the training data in eval mode (BatchNorm on its running statistics,
        which this pass leaves untouched), pushed away from 0."""
        mode = self.net.training
        self.net.eval()
        total, n = torch.zeros_like(self.c), 0
        for (x,) in loader:
            total += self.net(x).sum(0)
            n += len(x)
        self.net.train(mode)  # Lightning keeps a module's mode when fitting: training must run in train mode
        self.set_centre(push_from_zero(total / n, self.p.eps))
        return self.c

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """Squared distance of each embedded row to the centre."""
        return ((self.net(x) - self.c) ** 2).sum(1)

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if not self.centre_ready:
            raise RuntimeError("Deep SVDD centre is not initialised: call init_centre(loader) before fitting")
        dist = self.distances(batch[0])
        if self.p.objective == "soft-boundary":
            self._epoch_dist.append(dist.detach())
            loss = self.R ** 2 + torch.relu(dist - self.R ** 2).mean() / self.p.nu
        else:
            loss = dist.mean()
        self.log("svdd_loss", loss, prog_bar=False, logger=False)
        return loss

    def on_train_epoch_end(self) -> None:
        """Soft-boundary: after warm-up, R = the (1 - nu)-quantile of the epoch's distances."""
        if self.p.objective == "soft-boundary" and self.current_epoch + 1 >= self.p.warmup_epochs:
            dist = torch.cat(self._epoch_dist)
            self.R.fill_(float(torch.quantile(dist.sqrt(), 1 - self.p.nu)))
        self._epoch_dist.clear()

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.net.parameters(), lr=self.p.lr, weight_decay=self.p.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(self.p.lr_milestones), gamma=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class AutoencoderModule(pl.LightningModule):
    """Ruff et al.'s pretraining: the Deep SVDD net as encoder, its mirror image as decoder, summed squared error."""

    def __init__(self, encoder: DeepSVDDNet, decoder: nn.Module, params: DeepSVDDParams) -> None:
        super().__init__()
        self.encoder, self.decoder, self.p = encoder, decoder, params
        self.epoch_losses: list[float] = []
        self._batch_losses: list[float] = []

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = batch[0]
        loss = ((self.decoder(self.encoder(x)) - x) ** 2).sum(1).mean()
        self._batch_losses.append(float(loss.detach()))
        return loss

    def on_train_epoch_end(self) -> None:
        self.epoch_losses.append(float(np.mean(self._batch_losses)))
        self._batch_losses.clear()

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.p.lr, weight_decay=self.p.weight_decay)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op CPU threads (None: leave as is)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@HEADS.register("deep_svdd")
class DeepSVDDHead(Head):
    """Deep SVDD over pair features; score = squared distance to c (minus R^2 for soft-boundary)."""

    name = "deep_svdd"
    Params = DeepSVDDParams

    def _module(self, in_dim: int) -> DeepSVDDModule:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = DeepSVDDNet(in_dim, list(self.params.hidden), self.params.rep_dim)
        return DeepSVDDModule(net, self.params)

    def _train(self, module: pl.LightningModule, loader: DataLoader, epochs: int) -> None:
        """`epochs` epochs of a real Lightning Trainer, seeded, on the configured threads."""
        trainer = pl.Trainer(max_epochs=epochs, accelerator=self.params.accelerator, devices=1,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, deterministic=True)
        with torch.random.fork_rng(devices=[]), torch_threads(self.params.cpu_threads):
            torch.manual_seed(self.seed)
            trainer.fit(module, loader)

    def fit(self, X: np.ndarray) -> DeepSVDDHead:
        """Optionally pretrain as an autoencoder, init the centre from data, then train (seeded shuffling)."""
        X = as_features(X, "deep_svdd.fit")
        self.module = self._module(X.shape[1])
        data, bs = TensorDataset(torch.from_numpy(X)), self.params.batch_size
        # Whole batches are sliced out of the tensor (batch_size=None), no per-row collation.
        ordered = BatchSampler(SequentialSampler(data), bs, drop_last=False)
        shuffled = BatchSampler(RandomSampler(data, generator=torch.Generator().manual_seed(self.seed)), bs,
                                drop_last=len(X) > bs)
        loader = DataLoader(data, sampler=shuffled, batch_size=None)
        self.pretrain_losses: list[float] = []
        if self.params.pretrain_epochs > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + 1)
                decoder = DeepSVDDNet(self.params.rep_dim, list(self.params.hidden)[::-1], X.shape[1])  # mirrored
            autoencoder = AutoencoderModule(self.module.net, decoder, self.params)
            self._train(autoencoder, loader, int(self.params.pretrain_epochs))
            self.module.net.cpu()
            self.pretrain_losses = autoencoder.epoch_losses
        self.module.init_centre(DataLoader(data, sampler=ordered, batch_size=None))
        self._train(self.module, loader, self.params.epochs)
        self.module.cpu().eval()
        self.in_dim = X.shape[1]
        return self

    @torch.no_grad()
    def score(self, X: np.ndarray) -> np.ndarray:
        """Squared distance to the centre (soft-boundary: minus R^2), batched, eval-mode BatchNorm."""
        X = self._check_fitted(X)
        self.module.eval()
        dist = torch.cat([self.module.distances(torch.from_numpy(X[i:i + 8192])) for i in range(0, len(X), 8192)])
        if self.params.objective == "soft-boundary":
            dist = dist - self.module.R ** 2
        return dist.double().numpy()

    def arrays(self) -> dict[str, np.ndarray]:
        """Network weights, BatchNorm running statistics, centre c and radius R."""
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the network and load its state."""
        self.module = self._module(int(self.in_dim))
        self.module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
        self.module.centre_ready = True
        self.module.eval()
