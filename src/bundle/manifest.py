"""Sealing and checking a bundle: SHA-256 of every file in manifest.json; a changed, missing or extra file, or
a changed manifest, is a BundleError naming it. This detects damage and edits, it does not prove who made it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from datetime import datetime, timezone
from pathlib import Path

from data_modules.cli import InputFileError
from data_modules.io import atomic_write_bytes
from src.bundle.layout import MANIFEST, BundleManifest, canonical_json

PACKAGE = "difffake"
LIBRARIES = ("torch", "timm", "onnx", "onnxruntime", "onnxruntime-gpu", "numpy", "safetensors")
EXPORT_HINT = "export it again: python -m src.export run=<run dir> out=<bundle dir>"


class BundleError(InputFileError):
    """A bundle that fails its manifest check; the message names every file at fault."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_files(root: Path) -> list[str]:
    """Every file under `root` except the manifest, as sorted relative POSIX paths."""
    files = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(f for f in files if f != MANIFEST)


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_manifest(root: Path, source_run: str) -> BundleManifest:
    """Hash every file under `root` and write the sealed manifest.json."""
    versions = {name: v for name in (PACKAGE, *LIBRARIES) if (v := installed_version(name))}
    manifest = BundleManifest(package_version=versions.get(PACKAGE, "unknown"),
                              created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              source_run=source_run, files={f: sha256_file(root / f) for f in bundle_files(root)},
                              versions=versions).sealed()
    atomic_write_bytes(root / MANIFEST, manifest.to_bytes())
    return manifest


def _parse(path: Path) -> BundleManifest:
    """The manifest exactly as written (canonical bytes, intact checksum), or a BundleError."""
    raw = path.read_bytes()
    try:
        manifest = BundleManifest.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError) as err:
        raise BundleError(f"{path} is damaged ({type(err).__name__}: {err}); {EXPORT_HINT}") from None
    if canonical_json(json.loads(raw)) != raw or manifest.computed_checksum() != manifest.checksum:
        raise BundleError(f"{path} was changed after export (its checksum no longer matches); {EXPORT_HINT}")
    return manifest


def read_manifest(root: Path | str) -> BundleManifest:
    """The verified manifest of the bundle at `root`: every listed file present with its hash, nothing extra."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"bundle {root} does not exist; {EXPORT_HINT}")
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not a bundle (no {MANIFEST}); {EXPORT_HINT}")
    manifest = _parse(path)
    present = set(bundle_files(root))
    problems = [f"{name} is missing" for name in sorted(set(manifest.files) - present)]
    problems += [f"{name} was changed (SHA-256 differs from {MANIFEST})" for name in sorted(present & set(manifest.files))
                 if sha256_file(root / name) != manifest.files[name]]
    problems += [f"{name} is not in {MANIFEST} (an extra file)" for name in sorted(present - set(manifest.files))]
    if problems:
        raise BundleError(f"bundle {root} failed its integrity check: {'; '.join(problems)}; {EXPORT_HINT}")
    return manifest
