"""File I/O every layer shares: atomic writes, npz without pickle, config values as plain JSON data."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf


class DamagedFileError(ValueError):
    """A file that exists but cannot be parsed (truncated, corrupt, wrong format); the message names it and the fix."""


@contextmanager
def reading(path: Path | str, fix: str) -> Iterator[None]:
    """Turn any parse failure inside the block into a one-line DamagedFileError naming `path` and `fix`.

    Missing and unreadable files keep their own errors (FileNotFoundError, PermissionError): they need another fix."""
    try:
        yield
    except (FileNotFoundError, PermissionError, IsADirectoryError, DamagedFileError):
        raise
    except Exception as err:  # noqa: BLE001 - whatever a parser raises on bad bytes means the same thing here
        detail = " ".join(str(err).split())[:160]
        raise DamagedFileError(f"{path} is damaged or truncated ({type(err).__name__}: {detail}); {fix}") from err


def read_json(path: Path | str, fix: str) -> Any:
    """Parse a JSON file; bad content is a DamagedFileError naming the file and `fix`."""
    path = Path(path)
    text = path.read_text()
    with reading(path, fix):
        return json.loads(text)


def to_plain(value: Any) -> Any:
    """OmegaConf containers, mappings, sequences and paths as JSON-able dicts, lists and strings."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _top_level(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return str(value) if isinstance(value, Path) else value


def stable_hash(*parts: Any, length: int = 12) -> str:
    """Short SHA-256 of config parts, the same on every machine (key order never matters).

    Only each part's top level is converted (a config object nested in a plain dict hashes by its text), so
    the keys of artifacts already on disk stay valid."""
    blob = json.dumps([_top_level(p) for p in parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask can only set and return)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes 0600 files; give the mode a plain open() would, so a shared store stays readable
        os.fchmod(fd, 0o666 & ~_umask())
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
    atomic_write_text(path, json.dumps(to_plain(obj), indent=2, sort_keys=True, default=str) + "\n")


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same arrays give the same bytes on every run


def _write_npz(handle: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez's layout (one stored <name>.npy member per array), byte-reproducible."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays as an uncompressed .npz (no pickled objects), atomically and byte-reproducibly."""
    _atomic_write(path, lambda h: _write_npz(h, arrays), "wb")


def load_npz(path: Path, fix: str = "delete it and rerun to rebuild it") -> dict[str, np.ndarray]:
    """Load every array of an .npz written by `atomic_save_npz`, refusing pickled objects; a damaged file is a
    DamagedFileError naming it and `fix`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    with reading(path, fix), np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
