"""Artifact store: stable keys, atomic writes, and crashes that never leave a loadable artifact."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.io import atomic_save_npz, atomic_write_json, load_npz
from src.artifacts.store import COMPLETE_MARKER, ArtifactStore, config_hash
from tests.conftest import REPO_ROOT


def test_config_hash_ignores_key_order_and_container_type() -> None:
    a = OmegaConf.create({"lr": 1e-3, "opt": {"name": "sam", "rho": 0.05}})
    b = {"opt": {"rho": 0.05, "name": "sam"}, "lr": 1e-3}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**b, "lr": 2e-3})
    assert len(config_hash(a)) == 12


def test_build_marks_complete_and_get_or_build_reuses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ArtifactStore(tmp_path)
    calls = []

    def builder(work: Path) -> dict:
        calls.append(work)
        (work / "weights.json").write_text("[1, 2]")
        return {"rows": 2}

    path = store.get_or_build("kind", "abc", builder)
    assert store.is_complete("kind", "abc")
    assert json.loads((path / "weights.json").read_text()) == [1, 2]
    assert json.loads((path / "meta.json").read_text()) == {"rows": 2}
    assert not store.partial_path("kind", "abc").exists()
    with caplog.at_level("INFO"):
        assert store.get_or_build("kind", "abc", builder) == path
    assert len(calls) == 1
    assert "reusing artifact kind/abc" in caplog.text


def test_builder_error_leaves_no_artifact_and_keeps_partial_for_resume(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)

    def failing(work: Path) -> None:
        (work / "last.ckpt").write_text("epoch 3")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        store.get_or_build("extractor", "k1", failing)
    assert not store.is_complete("extractor", "k1")
    assert (store.partial_path("extractor", "k1") / "last.ckpt").read_text() == "epoch 3"
    with pytest.raises(FileNotFoundError, match="run the 'train_extractor' stage first"):
        store.require("extractor", "k1", made_by="train_extractor")

    seen = []
    store.get_or_build("extractor", "k1", lambda work: seen.append((work / "last.ckpt").read_text()))
    assert seen == ["epoch 3"]
    assert store.is_complete("extractor", "k1")


def test_build_killed_midway_is_not_done(tmp_path: Path) -> None:
    """A process SIGKILLed inside a build leaves nothing that counts as complete."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from src.artifacts.store import ArtifactStore
        store = ArtifactStore({str(tmp_path)!r})
        with store.build("faces", "k") as work:
            (work / "half.bin").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    store = ArtifactStore(tmp_path)
    assert not store.is_complete("faces", "k")
    assert not store.path("faces", "k").exists()
    assert not (store.partial_path("faces", "k") / COMPLETE_MARKER).exists()


def test_atomic_write_killed_midway_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write_json(target, {"auc": 0.9})
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        import data_modules.io as a
        def dying_write(handle):
            handle.write('{{"auc": 0.')
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        a._atomic_write(a.Path({str(target)!r}), dying_write, "w")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"auc": 0.9}


def test_npz_roundtrip_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "emb.npz"
    atomic_save_npz(path, x=np.arange(6, dtype=np.float16).reshape(2, 3), ids=np.array(["a/b/c/d", "é/ü/x/y"]))
    loaded = load_npz(path)
    assert loaded["x"].dtype == np.float16 and loaded["x"].shape == (2, 3)
    assert loaded["ids"].tolist() == ["a/b/c/d", "é/ü/x/y"]
    np.savez(tmp_path / "bad.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_npz(tmp_path / "bad.npz")
