"""Synchronised batch norm that keeps timm's fused norm + activation layers intact under DDP.

Lightning's `sync_batchnorm=True` uses torch's converter, which turns timm's `BatchNormAct2d` (norm, drop, SiLU)
into a plain `SyncBatchNorm` and so silently drops every activation of an EfficientNet. This plugin converts with
`timm.layers.convert_sync_batchnorm` instead and restores each layer's original class when training ends.
"""

from __future__ import annotations

import torch
from pytorch_lightning.plugins import LayerSync
from timm.layers import BatchNormAct2d, convert_sync_batchnorm
from torch import nn


def _unsynced(sync: nn.SyncBatchNorm, cls: type[nn.Module]) -> nn.Module:
    """A `cls` batch norm carrying `sync`'s settings, parameters, buffers, mode (and act/drop for BatchNormAct2d)."""
    args = (sync.num_features, sync.eps, sync.momentum, sync.affine, sync.track_running_stats)
    layer = cls(*args, act_layer=nn.Identity) if issubclass(cls, BatchNormAct2d) else cls(*args)
    if issubclass(cls, BatchNormAct2d):
        layer.act, layer.drop = sync.act, sync.drop
    if sync.affine:
        with torch.no_grad():
            layer.weight, layer.bias = sync.weight, sync.bias
    layer.running_mean, layer.running_var = sync.running_mean, sync.running_var
    layer.num_batches_tracked = sync.num_batches_tracked
    layer.train(sync.training)
    return layer


class TimmSyncBatchNorm(LayerSync):
    """Lightning LayerSync plugin: every batch norm (timm's norm + act ones included) synchronised across ranks."""

    def __init__(self) -> None:
        self._classes: dict[str, type[nn.Module]] = {}

    def apply(self, model: nn.Module) -> nn.Module:
        """Convert with timm's converter, remembering each batch norm's class by its module name."""
        self._classes = {name: type(m) for name, m in model.named_modules()
                         if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, nn.SyncBatchNorm)}
        return convert_sync_batchnorm(model)

    def revert(self, model: nn.Module) -> nn.Module:
        """Give every synchronised layer back its original class (BatchNormAct2d with its act and drop)."""
        if isinstance(model, nn.SyncBatchNorm) and "" in self._classes:
            return _unsynced(model, self._classes[""])
        for name, module in list(model.named_modules()):
            if isinstance(module, nn.SyncBatchNorm) and name in self._classes:
                parent, _, child = name.rpartition(".")
                model.get_submodule(parent).add_module(child, _unsynced(module, self._classes[name]))
        return model
