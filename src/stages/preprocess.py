"""Stage `preprocess`: the face cache of the training dataset and of every test dataset."""

from __future__ import annotations

from typing import Any

from data_modules.preprocess import build_face_cache
from src.stages import RunContext
from src.stages.keys import datasets_in_run

_COUNTS = ("videos", "ok", "skipped", "resumed", "frames", "frames_without_face", "frames_per_second")


def run(ctx: RunContext) -> dict[str, Any]:
    """Build or reuse each dataset's face cache; per dataset counts and skip reasons go to results.json."""
    results: dict[str, Any] = {}
    for data in datasets_in_run(ctx.cfg):
        summary = build_face_cache(data, ctx.cfg.face, ctx.store)
        results[data.name] = {k: summary[k] for k in (*_COUNTS, "skip_reasons", "reused")}
        ctx.log_metrics({f"preprocess/{data.name}/{k}": float(summary[k]) for k in _COUNTS})
    return results
