"""The face-cache writer end to end: bad inputs counted with reasons, the stage, the CLI, and resume after a kill."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.cache import FaceCache
from data_modules.cli import InputFileError
from src.artifacts.faces import build_face_cache, open_face_cache
from src.artifacts.keys import face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from src.run import run_stages
from tests.conftest import REPO_ROOT
from tests.face_media import astronaut, astronaut_frames, group_photo, paste, write_video
from tests.test_face_detection import assert_plausible

FACE = {"backend": "dlib", "upsample": 0, "select": "largest", "min_face_px": 24, "crop_scale": 2.0,
        "max_crop_side": 256, "image_format": "png", "jpeg_quality": 95, "num_workers": 0}


def data_cfg(root: Path, name: str = "folder", adapter: str = "folder", frames: int = 6, **options) -> OmegaConf:
    return OmegaConf.create({"name": name, "adapter": adapter, "root": str(root), "frames_per_video": frames,
                             "options": {"val_fraction": 0.0, "test_fraction": 0.0, **options}})


@pytest.fixture(scope="module")
def messy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder dataset holding every kind of bad input next to good videos."""
    root = tmp_path_factory.mktemp("messy")
    real, fake = root / "real", root / "fake" / "swap"
    frames = astronaut_frames(6)
    write_video(real / "good.mp4", frames)
    write_video(real / "partial.mp4", [f if i % 2 == 0 else np.zeros_like(f) for i, f in enumerate(frames)])
    rng = np.random.default_rng(0)
    write_video(real / "noface.mp4", [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(4)])
    (real / "zero.mp4").write_bytes(b"")
    (real / "text.mp4").write_text("this is not a video\n" * 40)
    broken = write_video(real / "truncated.mp4", frames)
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    write_video(real / "gray.mkv", [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
                                    for f in frames], codec="ffv1", pix_fmt="gray")
    write_video(real / "астронавт 宇航员.mp4", frames[:3])
    tiny = cv2.resize(astronaut()[60:200, 160:290], (40, 43))
    write_video(real / "tiny.mp4", [paste((240, 320), tiny, 100 + i, 90) for i in range(3)])
    group = cv2.resize(group_photo(), (640, 443))
    write_video(real / "several.mp4", [group, group])
    (real / "frames").mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(str(real / "frames" / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    face4k = cv2.resize(astronaut()[40:232, 140:312], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    write_video(fake / "uhd.mp4", [paste((2160, 3840), face4k, 1500 + 40 * i, 600) for i in range(2)])
    return root


def read_index(cache_root: Path) -> dict[str, dict[str, str]]:
    with (cache_root / "index.csv").open(newline="") as handle:
        return {row["video_id"]: row for row in csv.DictReader(handle)}


def test_bad_inputs_are_counted_with_reasons(messy_root, tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    built = build_face_cache(store, data_cfg(messy_root), FACE)
    summary = built.summary
    index = read_index(built.cache_dir)
    status = {vid.split("/")[-1]: (row["status"], row["reason"], int(row["num_frames"])) for vid, row in index.items()}
    assert status["good"] == ("ok", "", 6) and status["frames"] == ("ok", "", 4)
    assert status["partial"] == ("ok", "", 3)  # frames without a face are skipped, the video is kept
    assert status["gray"] == ("ok", "", 6) and status["астронавт 宇航员"] == ("ok", "", 3)
    assert status["several"][:2] == ("ok", "") and status["uhd"] == ("ok", "", 2)
    assert status["noface"] == ("skipped", "no face", 0) and status["tiny"] == ("skipped", "no face", 0)
    assert status["zero"] == ("skipped", "empty file (0 bytes)", 0)
    assert status["text"][:1] == ("skipped",) and status["text"][1].startswith("cannot open video")
    assert status["truncated"][1].startswith("cannot open video")
    assert summary.videos == 12 and summary.ok == 7 and summary.skipped == 5
    assert summary.skip_reasons == {"no face": 2, "empty file (0 bytes)": 1, "cannot open video": 2}
    assert summary.frames_without_face == 3 + 4 + 3  # partial, noface, tiny (tiny faces are not found)
    assert summary.frames == sum(n for _, _, n in status.values()) == 24 + status["several"][2]
    cache = open_face_cache(store, data_cfg(messy_root), OmegaConf.create(FACE))
    assert [r.video_id for r in cache.select()] == sorted(v for v, r in index.items() if r["status"] == "ok")
    faces = cache.read_faces("folder/real/raw/partial")
    assert list(faces.frame_indices) == [0, 2, 4] and list(faces.skipped_frames) == [1, 3, 5]
    assert set(faces.skipped_reasons) == {"no face"}
    for vid in ("folder/real/raw/good", "folder/real/raw/gray", "folder/swap/raw/uhd"):
        faces = cache.read_faces(vid)
        for t in range(faces.num_frames):
            crop = cache.read_crop(vid, t)
            assert crop.shape[2] == 3 and max(crop.shape[:2]) <= 256
            assert np.all(faces.landmarks[t] >= -1) and np.all(faces.landmarks[t] <= [crop.shape[1], crop.shape[0]])
            scale = crop.shape[1] / (faces.crop_boxes[t, 2] - faces.crop_boxes[t, 0])
            assert_plausible(faces.landmarks[t], (faces.boxes[t] - np.tile(faces.crop_boxes[t, :2], 2)) * scale)
    assert cache.read_faces("folder/swap/raw/uhd").crop_boxes[0, 2] > 1920  # cropped from the 4K frame
    record = cache.read_record("folder/real/raw/good")
    assert record["label"] == 0 and record["num_frames"] == 6 and record["image_format"] == "png"
    again = build_face_cache(store, data_cfg(messy_root), FACE)
    assert again.reused and again.summary.ok == 7


def test_split_file_naming_a_missing_video(tmp_path):
    root = tmp_path / "FaceForensics++"
    clip = write_video(tmp_path / "clip.mp4", astronaut_frames(3))
    for split, pairs in {"train": [["000", "001"]], "val": [], "test": []}.items():
        (root / "splits").mkdir(parents=True, exist_ok=True)
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    for relative in ("original_sequences/youtube/c23/videos/000.mp4", "original_sequences/youtube/c23/videos/001.mp4",
                     "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4"):  # 001_000 is missing
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        os.link(clip, root / relative)
    data = data_cfg(root, name="ffpp", adapter="ffpp", frames=3, compressions=["c23"], manipulations=["Deepfakes"])
    built = build_face_cache(ArtifactStore(tmp_path / "a"), data, FACE)
    summary = built.summary
    index = read_index(built.cache_dir)
    missing = index["ffpp/Deepfakes/c23/001_000"]
    assert missing["status"] == "skipped" and missing["reason"].startswith("missing file: ")
    assert summary.ok == 3 and summary.skipped == 1 and summary.skip_reasons == {"missing file": 1}


def test_faceless_1080p_frames_are_retried_larger_and_counted_in_the_summary(tmp_path):
    face = cv2.resize(astronaut()[40:232, 140:312], None, fx=1.3, fy=1.3, interpolation=cv2.INTER_CUBIC)
    write_video(tmp_path / "videos" / "real" / "dfdc.mp4", [paste((1080, 1920), face, 1200 + 8 * i, 500)
                                                            for i in range(2)])
    data = data_cfg(tmp_path / "videos", frames=2)
    with pytest.raises(InputFileError, match=r"no usable video .*skipped: no face: 1"):  # missed at 640 px
        build_face_cache(ArtifactStore(tmp_path / "a"), data, {**FACE, "retry_max_side": None})
    summary = build_face_cache(ArtifactStore(tmp_path / "b"), data, {**FACE, "retry_max_side": 1920}).summary
    assert summary.ok == 1 and summary.frames == 2 and summary.frames_without_face == 0
    assert (summary.detection_retries, summary.found_on_retry) == (2, 2)


def test_preprocess_stage_through_src_run(tmp_path):
    root = tmp_path / "data"
    write_video(root / "real" / "a.mp4", astronaut_frames(4))
    overrides = ["stages=[preprocess]", "data=folder", f"data.root={root}", "data.frames_per_video=2",
                 f"paths.artifact_dir={tmp_path}/artifacts", "logger=none", "face.num_workers=0"]
    results = run_stages(compose_config(overrides, output_dir=tmp_path / "run"))
    counts = results["stages"]["preprocess"]["folder"]
    assert counts["ok"] == 1 and counts["skipped"] == 0 and counts["frames"] == 2 and not counts["reused"]
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["stages"]["preprocess"]["folder"]["videos"] == 1
    again = run_stages(compose_config(overrides, output_dir=tmp_path / "run2"))
    assert again["stages"]["preprocess"]["folder"]["reused"]


def test_bad_detector_config_fails_before_any_video(tmp_path):
    write_video(tmp_path / "data" / "real" / "a.mp4", astronaut_frames(2))
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="missing det_\\*.onnx or scrfd\\*.onnx, 1k3d68.onnx"):
        (tmp_path / "models").mkdir()
        build_face_cache(store, data_cfg(tmp_path / "data"), {**FACE, "backend": "insightface",
                                                              "model_dir": str(tmp_path / "models")})
    with pytest.raises(ValueError, match="unknown face.select 'biggest'"):
        build_face_cache(store, data_cfg(tmp_path / "data"), {**FACE, "select": "biggest"})
    assert not (tmp_path / "a" / "faces").exists()


def test_empty_dataset_is_a_clear_error_from_the_cli(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "src.preprocess", "data=folder",
                           f"data.root={tmp_path / 'empty'}", f"paths.artifact_dir={tmp_path / 'a'}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"no videos found for dataset 'folder' in {tmp_path / 'empty'}" in proc.stderr
    assert "<root>/real/<name>.mp4" in proc.stderr
    assert not (tmp_path / "a" / "faces").exists()


def file_digests(video_dir: Path) -> dict[str, str]:
    return {p.relative_to(video_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(video_dir.rglob("*")) if p.is_file()}


def test_killed_run_resumes_to_an_identical_cache(tmp_path):
    root = tmp_path / "data"
    photo = astronaut()
    for v in range(12):  # distinct clips: the window starts somewhere else in the photo for each
        frames = [np.ascontiguousarray(photo[20 + v + 2 * i: 260 + v + 2 * i, 60 + 3 * v + i: 380 + 3 * v + i])
                  for i in range(6)]
        write_video(root / "real" / f"clip{v:02d}.mp4", frames)
    overrides = ["data=folder", f"data.root={root}", "data.frames_per_video=6", "data.options.test_fraction=0",
                 "face.num_workers=1", "face.max_crop_side=256"]
    cfg = compose_config(overrides)
    key = face_cache_key(cfg.data, cfg.face)
    store = ArtifactStore(tmp_path / "killed")
    partial, final = store.partial_path("faces", key), store.path("faces", key)
    command = [sys.executable, "-m", "src.preprocess", *overrides, f"paths.artifact_dir={store.root}"]
    log_path = tmp_path / "killed.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, start_new_session=True, stdout=log, stderr=log)
    done: list[Path] = []
    deadline = time.monotonic() + 120
    while len(done) < 3 and time.monotonic() < deadline and proc.poll() is None:
        done = sorted(partial.glob("videos/*/*/*/*/record.json"))
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool worker, mid-run
    proc.wait()
    assert 3 <= len(done) < 12 and not final.exists(), f"not killed midway: {log_path.read_text()[-2000:]}"
    before = {p.parent: file_digests(p.parent) for p in sorted(partial.glob("videos/*/*/*/*/record.json"))}
    in_process = {**OmegaConf.to_container(cfg.face), "num_workers": 0}  # same cache key: runtime setting
    resumed = build_face_cache(store, cfg.data, in_process).summary
    assert resumed.resumed == len(before) and resumed.ok == 12 and not partial.exists()
    for old_dir, digests in before.items():  # nothing already cached was rewritten
        assert file_digests(final / old_dir.relative_to(partial)) == digests
    assert not list(final.rglob(".*.tmp-*"))
    ref_root = build_face_cache(ArtifactStore(tmp_path / "clean"), cfg.data, in_process).cache_dir
    assert (final / "index.csv").read_bytes() == (ref_root / "index.csv").read_bytes()
    ours, theirs = FaceCache(final), FaceCache(ref_root)
    for row in ours.read_index():
        a, b = ours.read_faces(row.video_id), theirs.read_faces(row.video_id)
        for field in ("landmarks", "boxes", "crop_boxes", "scores", "frame_indices", "skipped_frames"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (row.video_id, field)
        mine, ref = file_digests(ours.video_dir(row.video_id)), file_digests(theirs.video_dir(row.video_id))
        assert {k: v for k, v in mine.items() if k != "faces.npz"} == {k: v for k, v in ref.items() if k != "faces.npz"}
