"""Rank-zero Python logging: one logger per module, silent on non-zero ranks."""

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


class _RankZeroFilter(logging.Filter):
    """Drops records on every process but global rank 0."""

    def filter(self, record: logging.LogRecord) -> bool:
        return global_rank() == 0


def get_logger(name: str) -> logging.Logger:
    """Return the module logger `name`, logging on rank zero only."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankZeroFilter) for f in logger.filters):
        logger.addFilter(_RankZeroFilter())
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=_FORMAT)
    return logger
