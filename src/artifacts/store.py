"""Content-addressed artifact store: keys are hashes of config subtrees, writes are atomic."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from data_modules.io import atomic_write_json, read_json, stable_hash
from src.utils.logging import get_logger

log = get_logger(__name__)

COMPLETE_MARKER = "_COMPLETE.json"
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
MIN_FREE_BYTES = 1 << 30  # below 1 GiB free a face cache or checkpoint write is likely to fail midway


class StoreError(PermissionError):
    """An artifact store this process cannot use: not writable, or too little free space."""


def config_hash(*parts: Any, length: int = 12) -> str:
    """Stable short hash of config subtrees (key order never matters)."""
    return stable_hash(*parts, length=length)


class ArtifactStore:
    """Artifacts live at <root>/<kind>/<key>; a directory counts only once it holds the completion marker.

    Work happens in <key>.partial, which survives a crash so the next run can resume from it
    (checkpoints, per-video cache files); the marker is written last and the directory renamed.
    """

    def __init__(self, root: Path | str, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.root = Path(root)
        self.min_free_bytes = min_free_bytes

    def check_usable(self) -> None:
        """Fail at once, in one line, when the store cannot be written or its disk is (nearly) full."""
        fix = "choose another paths.artifact_dir"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=".write-check-"):
                pass
        except OSError as err:
            raise StoreError(f"artifact store {self.root} is not writable ({err.strerror or err}): "
                             f"fix its permissions or {fix}") from None
        free = shutil.disk_usage(self.root).free
        if free < self.min_free_bytes:
            raise StoreError(f"artifact store {self.root} has {free / 2**30:.2f} GiB free, less than the "
                             f"{self.min_free_bytes / 2**30:.2f} GiB a run needs: free some space or {fix}")

    @contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold the artifact's lock file (<key>.lock, fcntl): a second process building it waits here."""
        path = self.root / kind / f"{key}{LOCK_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("artifact %s/%s is being built by another process: waiting for it", kind, key)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

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
        return read_json(self.path(kind, key) / COMPLETE_MARKER,
                         f"delete {self.path(kind, key)} and rerun the stage that builds it")

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
        """Reuse the finished artifact, or run `builder(work_dir)` and store its returned metadata.

        Building holds the artifact's lock; completion is checked again once it is held, so a process that
        waited for another one building the same artifact reuses its result."""
        if self.is_complete(kind, key):
            log.info("reusing artifact %s/%s", kind, key)
            return self.path(kind, key)
        with self.lock(kind, key):
            if self.is_complete(kind, key):
                log.info("reusing artifact %s/%s, built by another process meanwhile", kind, key)
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
