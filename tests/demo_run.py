"""A tiny end-to-end demo run (experiment=demo_tiny), built once per pytest session and shared on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from src.config import compose_config
from src.run import run_stages

TINY = ["experiment=demo_tiny", "extras.print_config=false"]


def run_tiny(base: Path, name: str, extra: list[str] | None = None) -> tuple[dict[str, Any], Path]:
    """Run demo_tiny into <base>/<name> with its artifacts under <base>/artifacts."""
    run_dir = base / name
    cfg = compose_config([*TINY, f"paths.artifact_dir={base / 'artifacts'}", *(extra or [])], run_dir)
    return run_stages(cfg), run_dir


def finished_run(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's finished tiny run dir (made by test_e2e_demo when it ran first, else built here)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    base = tmp_path_factory.getbasetemp() / "demo_tiny"
    run_dir = base / "full"
    if not (run_dir / "results.md").is_file():
        run_tiny(base, "full")
    return run_dir
