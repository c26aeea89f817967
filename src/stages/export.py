"""Stage `export`: the finished run as a bundle (`export.out`, default <run dir>/bundle), and the command that
scores a clip with it. `python -m src.export` does the same for any finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_modules.records import FAKE, select_rows
from src.artifacts.faces import open_face_cache
from src.bundle.export import export_bundle
from src.stages import RunContext
from src.utils.logging import get_logger

log = get_logger(__name__)


def example_clip(ctx: RunContext) -> str:
    """A test clip of the training dataset (a fake when there is one) to show the scoring command with."""
    rows = open_face_cache(ctx.store, ctx.cfg.data, ctx.cfg.face).read_index()
    chosen = select_rows(rows, "test", FAKE) or select_rows(rows, "test") or rows
    return chosen[0].path if chosen else "<video file>"


def run(ctx: RunContext) -> dict[str, Any]:
    """Write the bundle (replacing one from an earlier export into the same folder); returns its id and path."""
    out = Path(ctx.cfg.export.out)
    report = export_bundle(ctx.run_dir, out, ctx.store.root, int(ctx.cfg.export.opset), overwrite=True)
    command = f"python -m src.score bundle={out} video={example_clip(ctx)}"
    log.info("bundle %s exported; score a clip with it:\n    %s", report.manifest.bundle_id, command)
    return {"bundle": str(out), "bundle_id": report.manifest.bundle_id, "files": len(report.manifest.files),
            "onnx_max_abs_diff": report.onnx_max_abs_diff, "command": command}
