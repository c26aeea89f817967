"""Content-addressed artifact store: keys are hashes of config subtrees, writes are atomic."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

from src.utils.logging import get_logger

log = get_logger(__name__)

COMPLETE_MARKER = "_COMPLETE.json"
PARTIAL_SUFFIX = ".partial"


def _plain(value: Any) -> Any:
    """Resolve OmegaConf containers and paths into JSON-able plain values."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Path):
        return str(value)
    return value


def config_hash(*parts: Any, length: int = 12) -> str:
    """Stable short hash of config subtrees (key order never matters)."""
    blob = json.dumps([_plain(p) for p in parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to `path` through a temp file and a rename."""
    _atomic_write(path, lambda h: h.write(data), "wb")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to `path` through a temp file and a rename."""
    _atomic_write(path, lambda h: h.write(text), "w")


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(_plain(obj), indent=2, sort_keys=True, default=str) + "\n")


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays as an uncompressed .npz (no pickled objects), atomically."""
    _atomic_write(path, lambda h: np.savez(h, **arrays), "wb")


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load every array of an .npz written by `atomic_save_npz`, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class ArtifactStore:
    """Artifacts live at <root>/<kind>/<key>; a directory counts only once it holds the completion marker.

    Work happens in <key>.partial, which survives a crash so the next run can resume from it
    (checkpoints, per-video cache files); the marker is written last and the directory renamed.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        """Final location of the artifact (may not exist yet)."""
        return self.root / kind / key

    def partial_path(self, kind: str, key: str) -> Path:
        """Work-in-progress location of the artifact."""
        return self.root / kind / f"{key}{PARTIAL_SUFFIX}"

    def is_complete(self, kind: str, key: str) -> bool:
        """True when the artifact was finished (its marker exists)."""
        return (self.path(kind, key) / COMPLETE_MARKER).is_file()

    def read_meta(self, kind: str, key: str) -> dict[str, Any]:
        """The metadata stored with a finished artifact."""
        return json.loads((self.path(kind, key) / COMPLETE_MARKER).read_text())

    def require(self, kind: str, key: str, made_by: str) -> Path:
        """Path of a finished artifact, or a clear error naming the stage that makes it."""
        if not self.is_complete(kind, key):
            raise FileNotFoundError(
                f"artifact {kind}/{key} is missing under {self.root}: run the '{made_by}' stage first "
                f"(add it to `stages`) with the same config"
            )
        return self.path(kind, key)

    @contextmanager
    def build(self, kind: str, key: str, meta: dict[str, Any] | None = None) -> Iterator[Path]:
        """Yield the work directory; on a clean exit mark it complete and move it into place."""
        final, work = self.path(kind, key), self.partial_path(kind, key)
        if final.exists() and not self.is_complete(kind, key):
            shutil.rmtree(final)
        work.mkdir(parents=True, exist_ok=True)
        yield work
        atomic_write_json(work / COMPLETE_MARKER, {"kind": kind, "key": key, **(meta or {})})
        os.replace(work, final)

    def get_or_build(
        self, kind: str, key: str, builder: Callable[[Path], dict[str, Any] | None], meta: dict[str, Any] | None = None
    ) -> Path:
        """Reuse the finished artifact, or run `builder(work_dir)` and store its returned metadata."""
        if self.is_complete(kind, key):
            log.info("reusing artifact %s/%s", kind, key)
            return self.path(kind, key)
        partial = self.partial_path(kind, key)
        if partial.exists():
            log.info("resuming artifact %s/%s from %s", kind, key, partial)
        with self.build(kind, key, meta) as work:
            extra = builder(work) or {}
            if extra:
                atomic_write_json(work / "meta.json", extra)
        log.info("built artifact %s/%s", kind, key)
        return self.path(kind, key)
