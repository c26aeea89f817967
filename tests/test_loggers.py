"""W&B mode selection: WANDB_MODE wins, online without a key falls back to offline with one warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.utils.loggers import resolve_wandb_mode


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))


def test_online_without_key_falls_back_offline(no_key: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        assert resolve_wandb_mode("online") == "offline"
    assert len(caplog.records) == 1 and "no API key" in caplog.records[0].message


def test_wandb_mode_env_wins(no_key: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("online") == "disabled"
    assert resolve_wandb_mode("offline") == "disabled"


def test_offline_request_is_kept(no_key: None) -> None:
    assert resolve_wandb_mode("offline") == "offline"


def test_key_without_network_falls_back(no_key: None, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr("src.utils.loggers.WANDB_HOST", ("127.0.0.1", 9))
    with caplog.at_level("WARNING"):
        assert resolve_wandb_mode("online") == "offline"
    assert "unreachable" in caplog.text
