"""One-class heads behind one protocol (fit, score: higher = more likely fake, save, load), by name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_modules.io import to_plain
from src.models.differential.heads import deep_svdd, gmm, ocsvm  # noqa: F401  (each registers its head)
from src.models.differential.heads.base import HEADS, Head, params_from_cfg, read_meta


def build_head(head_cfg: Mapping[str, Any], seed: int) -> Head:
    """An unfitted head from a config with `name` plus that head's options."""
    cfg = dict(to_plain(head_cfg))
    cls = HEADS.get(str(cfg.pop("name", None)))
    return cls(params_from_cfg(cls.Params, cfg, cls.name), seed)


def load_head(directory: Path | str) -> Head:
    """A fitted head saved with `Head.save(directory)`."""
    return HEADS.get(read_meta(directory)["name"]).load(directory)


__all__ = ["HEADS", "Head", "build_head", "load_head"]
