"""Sharded preprocessing: the split is a stable partition, and shards merged (by the last shard, or by a run
without face.shard that also does what is missing) give byte for byte the cache of one unsharded run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.preprocess.shards import SHARD_DIR, ShardSpec, claim_merge, select_shard, shard_of
from data_modules.records import VideoRecord
from src.artifacts.faces import build_face_cache
from src.artifacts.keys import face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from tests.conftest import REPO_ROOT
from tests.face_media import astronaut, write_video

TIMING = ("seconds", "frames_per_second")  # the only summary fields two identical builds may differ in


def records(n: int) -> list[VideoRecord]:
    return [VideoRecord(video_id=f"ds/real/raw/v{i:05d}", path=f"/x/v{i}.mp4", label=0, dataset="ds",
                        manipulation="real", compression="raw", split="train") for i in range(n)]


def test_shard_split_is_a_stable_partition():
    videos = records(2000)
    for count in (1, 2, 3, 7):
        shards = [select_shard(videos, ShardSpec(i, count) if count > 1 else ShardSpec()) for i in range(count)]
        ids = [r.video_id for shard in shards for r in shard]
        assert sorted(ids) == sorted(r.video_id for r in videos)  # every video in exactly one shard
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) < 0.2 * len(videos) / count, sizes  # and the shards about even
        for shard in shards:  # each shard keeps the listed order
            assert [r.video_id for r in shard] == sorted(r.video_id for r in shard)
    # a hash of the id alone: fixed across runs, machines and Python hash seeds, independent of the listing
    assert [shard_of(f"ds/real/raw/v{i:05d}", 4) for i in range(8)] == [2, 2, 3, 3, 0, 0, 1, 0]
    assert select_shard(videos[::-1], ShardSpec(1, 3)) == select_shard(videos, ShardSpec(1, 3))[::-1]


def test_shard_settings_are_checked():
    assert ShardSpec.from_face_config({"num_shards": 1, "shard": 0}) == ShardSpec()
    assert ShardSpec.from_face_config({"num_shards": 4, "shard": None}).sharded is False
    assert ShardSpec.from_face_config({"num_shards": 4, "shard": 3}).name == "3-of-4"
    with pytest.raises(ValueError, match=r"face.shard=4 is outside 0..3: pass face.shard=<0..3>"):
        ShardSpec.from_face_config({"num_shards": 4, "shard": 4})
    with pytest.raises(ValueError, match="face.num_shards must be >= 1, got 0"):
        ShardSpec.from_face_config({"num_shards": 0, "shard": None})


def test_only_one_caller_claims_the_merge(tmp_path):
    (tmp_path / SHARD_DIR).mkdir()
    assert [claim_merge(tmp_path), claim_merge(tmp_path)] == [True, False]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path (summary.json without its timing fields)."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    summary = {k: v for k, v in json.loads(files.pop("summary.json")).items() if k not in TIMING}
    return {**files, "summary.json": json.dumps(summary, sort_keys=True).encode()}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight distinct face clips, one clip without a face and one empty file (skips are merged too)."""
    root = tmp_path_factory.mktemp("clips")
    photo = astronaut()
    for v in range(8):
        frames = [np.ascontiguousarray(photo[20 + v + 2 * i: 260 + v + 2 * i, 60 + 3 * v + i: 380 + 3 * v + i])
                  for i in range(3)]
        write_video(root / "real" / f"clip{v:02d}.mp4", frames)
    rng = np.random.default_rng(0)
    write_video(root / "real" / "noface.mp4", [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)] * 2)
    (root / "real" / "empty.mp4").write_bytes(b"")
    return root


def overrides(root: Path) -> list[str]:
    return ["data=folder", f"data.root={root}", "data.frames_per_video=3", "data.options.test_fraction=0",
            "face.num_workers=0", "face.max_crop_side=128"]


def face_of(cfg, **shard) -> dict:
    return {**OmegaConf.to_container(cfg.face), **shard}


def test_two_shards_merge_to_the_unsharded_cache(clips, tmp_path):
    cfg = compose_config(overrides(clips))
    key = face_cache_key(cfg.data, cfg.face)
    assert key == face_cache_key(cfg.data, OmegaConf.create(face_of(cfg, num_shards=2, shard=1)))
    unsharded = build_face_cache(ArtifactStore(tmp_path / "one"), cfg.data, cfg.face)
    assert unsharded.summary.ok == 8 and unsharded.summary.skipped == 2
    expected = tree(unsharded.cache_dir)

    # shard 1 through the CLI (a SLURM array task), then shard 0 in this process: the last one merges
    store = ArtifactStore(tmp_path / "sharded")
    cli = subprocess.run([sys.executable, "-m", "src.preprocess", *overrides(clips), f"paths.artifact_dir={store.root}",
                          "face.num_shards=2", "face.shard=1"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "shard 1-of-2 done; waiting for shards [0]" in cli.stderr
    partial = store.partial_path("faces", key)
    part = json.loads((partial / SHARD_DIR / "1-of-2.json").read_text())
    shard1 = {o["video_id"] for o in part["outcomes"]}
    assert 0 < len(shard1) < 10 and not store.is_complete("faces", key)
    merged = build_face_cache(store, cfg.data, face_of(cfg, num_shards=2, shard=0))
    assert merged.complete and merged.cache_dir == store.path("faces", key) and not partial.exists()
    assert merged.summary.ok == 8 and merged.summary.skipped == 2 and merged.summary.resumed == 0
    assert tree(merged.cache_dir) == expected  # byte for byte, no shard files left

    # shard 0 alone, then a run without face.shard: it takes shard 0's videos and does the rest itself
    store = ArtifactStore(tmp_path / "finished_by_plain_run")
    first = build_face_cache(store, cfg.data, face_of(cfg, num_shards=2, shard=0))
    assert not first.complete and first.pending_shards == (1,) and first.summary.videos == 10 - len(shard1)
    again = build_face_cache(store, cfg.data, face_of(cfg, num_shards=2, shard=0))  # a rerun redoes nothing
    assert again.pending_shards == (1,) and again.summary.frames_sampled == first.summary.frames_sampled > 0
    plain = build_face_cache(store, cfg.data, cfg.face)
    assert plain.complete and tree(plain.cache_dir) == expected
