"""One-class heads behind one protocol (fit, score: higher = more likely fake, save, load) and their registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.models.heads.base import Head, params_from_cfg, read_meta
from src.models.heads.deep_svdd import DeepSVDDHead
from src.models.heads.gmm import GMMHead
from src.models.heads.ocsvm import OCSVMHead

HEADS: dict[str, type[Head]] = {h.name: h for h in (DeepSVDDHead, GMMHead, OCSVMHead)}


def _plain(cfg: DictConfig | dict[str, Any]) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def build_head(head_cfg: DictConfig | dict[str, Any], seed: int) -> Head:
    """An unfitted head from a config with `name` plus that head's options."""
    cfg = _plain(head_cfg)
    name = cfg.pop("name", None)
    if name not in HEADS:
        raise ValueError(f"unknown head '{name}'; valid choices: {', '.join(HEADS)}")
    cls = HEADS[name]
    return cls(params_from_cfg(cls.Params, cfg, name), seed)


def load_head(directory: Path | str) -> Head:
    """A fitted head saved with `Head.save(directory)`."""
    name = read_meta(directory)["name"]
    if name not in HEADS:
        raise ValueError(f"{directory} holds an unknown head '{name}'; valid choices: {', '.join(HEADS)}")
    return HEADS[name].load(directory)


__all__ = ["HEADS", "Head", "build_head", "load_head"]
