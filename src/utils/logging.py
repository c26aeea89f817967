"""Rank-zero Python logging: the root handler drops records on non-zero ranks, for every package's loggers."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] %(message)s"
_RANK_ENV = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's rank: Lightning's once it is loaded, else the launcher's environment."""
    lightning = sys.modules.get("pytorch_lightning.utilities.rank_zero")
    if lightning is not None:
        return int(getattr(lightning.rank_zero_only, "rank", 0))
    for name in _RANK_ENV:
        if name in os.environ:
            return int(os.environ[name])
    return 0


class RankZeroFilter(logging.Filter):
    """Drops records on every process but global rank 0."""

    def filter(self, record: logging.LogRecord) -> bool:
        return global_rank() == 0


def setup_logging() -> None:
    """Configure the root logger once (INFO, one format) with the rank-zero filter on each of its handlers."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=_FORMAT)
    for handler in root.handlers:
        if not any(isinstance(f, RankZeroFilter) for f in handler.filters):
            handler.addFilter(RankZeroFilter())


def get_logger(name: str) -> logging.Logger:
    """The module logger `name`, with the root logging set up."""
    setup_logging()
    return logging.getLogger(name)
