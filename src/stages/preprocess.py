"""Stage `preprocess`: the face cache of the training dataset and of every test dataset."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from src.artifacts.faces import build_face_cache
from src.config import datasets_in_run
from src.stages import RunContext

_COUNTS = ("videos", "ok", "skipped", "resumed", "frames", "frames_without_face", "frames_per_second")


def run(ctx: RunContext) -> dict[str, Any]:
    """Build or reuse each dataset's face cache; per dataset counts and skip reasons go to results.json."""
    results: dict[str, Any] = {}
    for data in datasets_in_run(ctx.cfg):
        built = build_face_cache(ctx.store, data, ctx.cfg.face)
        summary = asdict(built.summary)
        results[data.name] = {**{k: summary[k] for k in (*_COUNTS, "skip_reasons")}, "reused": built.reused}
        if not built.complete:  # one shard of several: the cache is finished by the last shard to end
            results[data.name].update(complete=False, pending_shards=list(built.pending_shards))
        ctx.log_metrics({f"preprocess/{data.name}/{k}": float(summary[k]) for k in _COUNTS})
    return results
