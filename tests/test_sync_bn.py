"""Synchronised batch norm under DDP keeps timm's norm + activation layers: every backbone config computes the
same function after conversion (torch's own converter drops EfficientNet's SiLUs), and `trainer=ddp` uses it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from timm.layers import BatchNormAct2d
from torch import nn

from src.config import compose_config
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet
from src.models.extractor.sync_bn import TimmSyncBatchNorm
from src.stages.train_extractor import build_trainer
from tests.conftest import REPO_ROOT
from tests.test_extractor import one_thread  # noqa: F401  (autouse fixture)

BACKBONES = sorted(p.stem for p in (REPO_ROOT / "experiments" / "backbone").glob("*.yaml"))


def random_net(config: str) -> FeatureExtractorNet:
    """The config's network at random init, with non-trivial batch-norm statistics so every buffer matters."""
    backbone = {**OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "experiments" / "backbone" / f"{config}.yaml")),
                "pretrained": False}
    torch.manual_seed(0)
    net = FeatureExtractorNet.build(ExtractorSpec(backbone=backbone, image_size=64))
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0.0, 0.2)
    return net.eval()


def outputs(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logit, embedding = net.eval()(images)
    return torch.cat([logit[:, None], embedding], dim=1)


@pytest.mark.parametrize("config", BACKBONES)
def test_timm_conversion_keeps_every_backbone_the_same_function(config):
    net = random_net(config)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    expected = outputs(net, images)
    plugin = TimmSyncBatchNorm()
    synced = plugin.apply(copy.deepcopy(net))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in synced.modules())  # every batch norm is synchronised
    torch.testing.assert_close(outputs(synced, images), expected, rtol=1e-5, atol=1e-5)
    reverted = plugin.revert(synced)
    assert [type(m) for m in reverted.modules()] == [type(m) for m in net.modules()]
    torch.testing.assert_close(outputs(reverted, images), expected, rtol=1e-5, atol=1e-5)
    if any(isinstance(m, BatchNormAct2d) for m in net.modules()):
        # the bug this guards against: torch's converter turns BatchNormAct2d into a bare SyncBatchNorm
        stripped = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(net))
        assert not torch.allclose(outputs(stripped, images), expected, rtol=1e-3, atol=1e-3)


def test_efficientnets_have_norm_act_layers():
    """The guard above bites where it matters: every EfficientNet config is built from BatchNormAct2d layers."""
    for config in (c for c in BACKBONES if "efficientnet" in c):
        backbone = OmegaConf.load(REPO_ROOT / "experiments" / "backbone" / f"{config}.yaml")
        with torch.device("meta"):
            net = FeatureExtractorNet.build(ExtractorSpec(backbone={**backbone, "pretrained": False}), pretrained=False)
        assert any(isinstance(m, BatchNormAct2d) for m in net.modules()), config


def test_ddp_trainer_syncs_through_timm(tmp_path: Path):
    cfg = compose_config(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true",
                          "logger=none"], output_dir=tmp_path)
    assert cfg.trainer.sync_batchnorm is True
    trainer = build_trainer(cfg.trainer, [], [], tmp_path)
    assert isinstance(trainer.strategy._layer_sync, TimmSyncBatchNorm)
    single = build_trainer(compose_config(["trainer=cpu", "logger=none"], output_dir=tmp_path).trainer, [], [], tmp_path)
    assert getattr(single.strategy, "_layer_sync", None) is None
