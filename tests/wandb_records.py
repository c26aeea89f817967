"""Read what an offline W&B run wrote: the records of its .wandb file (the file `wandb sync` uploads).

The file is a 7-byte header followed by LevelDB-style log blocks of 32 KiB; each chunk has a 7-byte header
(crc32c, length, type: 1 full, 2 first, 3 middle, 4 last) and carries a serialised protobuf Record.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

_FILE_HEADER = 7
_BLOCK = 32768
_CHUNK_HEADER = 7


def _records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run log")
    out, pending, pos = [], b"", _FILE_HEADER
    while pos + _CHUNK_HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK_HEADER:
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + _CHUNK_HEADER])
        if kind == 0:
            break
        chunk = data[pos + _CHUNK_HEADER:pos + _CHUNK_HEADER + length]
        pos += _CHUNK_HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            out.append(pending)
    return out


def offline_runs(run_dir: Path) -> list[Path]:
    """The offline-run-* folders under <run dir>/wandb."""
    return sorted((Path(run_dir) / "wandb").glob("offline-run-*"))


def history_rows(offline_run: Path) -> list[dict[str, Any]]:
    """Every logged history row (metrics and media references) of one offline run."""
    rows = []
    for blob in _records(next(Path(offline_run).glob("*.wandb"))):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(blob)
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def logged_values(offline_run: Path, key: str) -> list[Any]:
    """All values logged under `key`, in order."""
    return [row[key] for row in history_rows(offline_run) if key in row]
