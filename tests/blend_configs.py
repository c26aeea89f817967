"""experiments/blend/<name>.yaml groups as BlendConfigs, for the blending tests."""

from __future__ import annotations

from omegaconf import OmegaConf

from data_modules.blending import BlendConfig
from src.config import CONFIG_DIR


def blend_node(name: str, **overrides):
    """The group's node with its defaults merged in, plus overrides."""
    node = OmegaConf.load(CONFIG_DIR / "blend" / f"{name}.yaml")
    for parent in node.pop("defaults", []):
        node = OmegaConf.merge(blend_node(parent), node)
    return OmegaConf.merge(node, overrides)


def blend_cfg(name: str, size: int, **overrides) -> BlendConfig:
    """The experiments/blend/<name>.yaml group (with its defaults) plus overrides, at output size `size`."""
    return BlendConfig.from_cfg(blend_node(name, **overrides), size)
