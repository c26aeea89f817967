"""Preprocessing loses nothing: a damaged or deleted video folder is rebuilt by following the error's advice,
a second Ctrl-C ends the run within seconds with the partial cache intact, and broken links are counted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.cache import FaceCache
from src.artifacts.faces import build_face_cache
from src.artifacts.keys import face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from tests.conftest import REPO_ROOT
from tests.face_media import astronaut, write_video
from tests.test_preprocess import FACE, data_cfg, file_digests


def _clips(root: Path, count: int) -> None:
    """`count` distinct short clips of one face under root/real."""
    photo = astronaut()
    for v in range(count):
        frames = [np.ascontiguousarray(photo[20 + v + 2 * i: 260 + v + 2 * i, 60 + 3 * v + i: 380 + 3 * v + i])
                  for i in range(4)]
        write_video(root / "real" / f"clip{v:02d}.mp4", frames)


def test_following_the_corrupt_crop_advice_rebuilds_the_video(tmp_path: Path) -> None:
    _clips(tmp_path / "data", 2)
    store, data = ArtifactStore(tmp_path / "store"), data_cfg(tmp_path / "data", frames=4)
    cache_dir = build_face_cache(store, data, FACE).cache_dir
    cache = FaceCache(cache_dir)
    video_id = cache.select()[0].video_id
    before = file_digests(cache.video_dir(video_id))
    crop = cache.crop_paths(video_id)[1]
    crop.write_bytes(b"\x89PNG truncated")
    with pytest.raises(OSError, match=r"cannot read cached crop .*; delete (\S+) and rerun preprocess") as info:
        cache.read_crop(video_id, 1)
    folder = Path(str(info.value).split("; delete ")[1].split(" and rerun")[0])
    assert folder == cache.video_dir(video_id)
    shutil.rmtree(folder)  # the advice, followed to the letter
    again = build_face_cache(store, data, FACE)
    assert not again.reused and again.summary.ok == 2 and again.summary.resumed == 1
    rebuilt = FaceCache(again.cache_dir)
    assert rebuilt.read_crop(video_id, 1).shape[2] == 3
    assert {k: v for k, v in file_digests(rebuilt.video_dir(video_id)).items() if k != "faces.npz"} == \
        {k: v for k, v in before.items() if k != "faces.npz"}
    assert build_face_cache(store, data, FACE).reused  # whole again: reused from now on


def test_an_emptied_frames_folder_is_not_trusted(tmp_path: Path) -> None:
    _clips(tmp_path / "data", 1)
    store, data = ArtifactStore(tmp_path / "store"), data_cfg(tmp_path / "data", frames=4)
    cache = FaceCache(build_face_cache(store, data, FACE).cache_dir)
    (video_id,) = [row.video_id for row in cache.select()]
    for crop in cache.crop_paths(video_id):
        crop.unlink()
    assert cache.missing_videos() == [video_id]
    again = build_face_cache(store, data, FACE)
    assert not again.reused and FaceCache(again.cache_dir).missing_videos() == []


def _running_in_group(pgid: int) -> list[str]:
    """Processes of a process group that still run (zombies, already dead, are left out)."""
    running = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            running.append(stat_file.parent.name)
    return running


def test_a_second_ctrl_c_ends_preprocessing_within_seconds_and_the_cache_resumes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _clips(root, 12)
    overrides = ["data=folder", f"data.root={root}", "data.frames_per_video=4", "data.options.test_fraction=0",
                 "face.num_workers=2", "face.max_crop_side=256"]
    cfg = compose_config(overrides)
    store = ArtifactStore(tmp_path / "store")
    partial = store.partial_path("faces", face_cache_key(cfg.data, cfg.face))
    command = [sys.executable, "-m", "src.preprocess", *overrides, f"paths.artifact_dir={store.root}"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and \
            len(list(partial.glob("videos/*/*/*/*/record.json"))) < 2:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the parent and its workers
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)  # and a second, impatient one
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("preprocessing hung after a second Ctrl-C")
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: the videos cached so far are kept")
    time.sleep(0.5)
    assert _running_in_group(proc.pid) == []  # no worker left behind
    done = sorted(partial.glob("videos/*/*/*/*/record.json"))
    assert 2 <= len(done) < 12
    in_process = {**OmegaConf.to_container(cfg.face), "num_workers": 0}
    resumed = build_face_cache(store, cfg.data, in_process)
    assert resumed.summary.ok == 12 and resumed.summary.resumed == len(done) and not partial.exists()
    assert FaceCache(resumed.cache_dir).missing_videos() == []


def test_a_broken_link_is_indexed_as_skipped_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _clips(root, 1)
    (root / "real" / "moved.mp4").symlink_to(tmp_path / "elsewhere" / "moved.mp4")
    built = build_face_cache(ArtifactStore(tmp_path / "store"), data_cfg(root, frames=4), FACE)
    rows = {row.video_id: row for row in FaceCache(built.cache_dir).read_index()}
    moved = rows["folder/real/raw/moved"]
    assert moved.status == "skipped" and moved.reason.startswith("broken link: ")
    assert str(tmp_path / "elsewhere" / "moved.mp4") in moved.reason
    assert built.summary.skip_reasons == {"broken link": 1} and built.summary.ok == 1
