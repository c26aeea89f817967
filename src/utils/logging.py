"""Rank-zero Python logging: one logger per module, silent on non-zero ranks."""

from __future__ import annotations

import logging

from pytorch_lightning.utilities import rank_zero_only

_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] %(message)s"


class _RankZeroFilter(logging.Filter):
    """Drops records on every process but global rank 0."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(rank_zero_only, "rank", 0) == 0


def get_logger(name: str) -> logging.Logger:
    """Return the module logger `name`, logging on rank zero only."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RankZeroFilter) for f in logger.filters):
        logger.addFilter(_RankZeroFilter())
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=_FORMAT)
    return logger
