"""Shared test setup: offline everything, no hub downloads, small thread pools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TIMM_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DIFFFAKE_SHARED", REPO_ROOT.parent / "shared"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The interrupted-demo test runs first (it must build the shared tiny run itself); GPU tests skip without CUDA."""
    import torch

    items.sort(key=lambda item: item.path.name != "test_e2e_demo.py")  # stable: keeps every other order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_media() -> Path:
    """../shared/media (real face clips), or a skip when this checkout has none."""
    media = SHARED / "media"
    if not media.is_dir():
        pytest.skip(f"no shared media at {media}")
    return media


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's finished demo_tiny run (tests/demo_run.py), built on first use."""
    from tests.demo_run import finished_run

    with pytest.MonkeyPatch.context() as mp:
        return finished_run(tmp_path_factory, mp)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path) -> Path:
    """The bundle that run's export stage wrote (read it, or copy it before changing anything)."""
    return tiny_run / "bundle"
