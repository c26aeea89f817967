"""The demo media builder and the face-swap tool: real decoding, real dlib landmarks, no mocks."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.demo import DemoOptions, build_demo_media
from data_modules.demo.build import BUILDING, MANIFEST, plan_clips, render_clip
from data_modules.demo.landmarks import largest_face
from data_modules.demo.motion import Drift
from data_modules.demo.photos import load_identities
from data_modules.demo.swap import face_mask, swap_face, triangulate
from data_modules.demo.swap_video import make_folder_dataset
from data_modules.demo.video_io import read_frames
from data_modules.preprocess import sample_frames
from data_modules.sources import list_videos

TINY = DemoOptions(max_identities=3, frame_size=192, frames_per_clip=6, fps=6,
                   clips={"train": 1, "val": 1, "test": 1}, fakes_per_identity=1)


@pytest.fixture(scope="module")
def identities():
    return load_identities(192, 2.2)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo") / "media"
    return root, build_demo_media(root, TINY)


def test_every_packaged_face_becomes_an_identity(identities) -> None:
    names = [i.name for i in identities]
    assert names[0] == "astronaut"
    assert {f"t1_{k}" for k in range(6)} <= set(names), "each of the six faces of t1.jpg is an identity"
    assert "hanks" in names and len(set(names)) == len(names) >= 8
    for ident in identities:
        assert ident.image.shape == (192, 192, 3) and ident.landmarks.shape == (68, 2)
        centre = (ident.landmarks.min(0) + ident.landmarks.max(0)) / 2
        assert np.all(np.abs(centre - 96) < 12), f"{ident.name}: face not centred"


def test_layout_splits_and_manifest(media) -> None:
    root, manifest = media
    splits = json.loads((root / "splits.json").read_text())
    reals = sorted(p.relative_to(root).as_posix() for p in (root / "real").glob("*.mp4"))
    fakes = sorted(p.relative_to(root).as_posix() for p in (root / "fake" / "landmark_swap").glob("*.mp4"))
    assert len(reals) == 3 * 3 and len(fakes) == 3
    assert set(splits) == {*reals, *fakes}
    assert sorted(splits[r] for r in reals) == sorted(["train", "val", "test"] * 3)
    assert all(splits[f] == "test" for f in fakes)
    assert not (root / BUILDING).exists()
    for clip in manifest["clips"]:
        assert clip["label"] == int(clip["path"].startswith("fake/"))
        if clip["label"]:
            assert clip["source"] != clip["target"] and clip["blend"] in ("poisson", "alpha")


def test_clips_decode_with_natural_variation_and_findable_faces(media) -> None:
    root, manifest = media
    for clip in manifest["clips"]:
        frames, fps = read_frames(root / clip["path"])
        assert len(frames) == TINY.frames_per_clip and frames[0].shape == (192, 192, 3) and fps == TINY.fps
        stack = np.stack(frames).astype(np.float32)
        change = np.abs(stack[1:] - stack[:-1]).mean()
        assert 1.0 < change < 40.0, f"{clip['path']}: frames should drift a little, mean change {change:.1f}"
        sampled = sample_frames(root / clip["path"], 3)
        assert [i for i, _ in sampled] == [0, 2, 5] or len(sampled) == 3
        assert all(largest_face(frame) is not None for _, frame in sampled), f"no face in {clip['path']}"


def test_fakes_carry_the_source_face_aligned_to_the_target(identities) -> None:
    options = TINY
    fake_plan = next(p for p in plan_clips(options, identities[:3]) if p.source is not None)
    real_plan = dataclasses.replace(fake_plan, source=None)  # same camera, lighting and sensor draws
    fake = list(render_clip(fake_plan, identities[:3], options, Drift()))
    real = list(render_clip(real_plan, identities[:3], options, Drift()))
    lms_fake, lms_real = largest_face(fake[0]), largest_face(real[0])
    assert np.abs(lms_fake - lms_real).mean() < 6, "the swapped face follows the target's pose"
    inside = face_mask(lms_real, real[0].shape[:2]) > 0.5
    diff = np.abs(fake[0].astype(np.float32) - real[0].astype(np.float32)).mean(-1)
    assert diff[inside].mean() > 3 * diff[~inside].mean(), "the change is in the face, not the background"


def test_swap_face_is_deterministic_and_confined_to_the_face(identities) -> None:
    a, b = identities[0], identities[1]
    tris = triangulate(b.landmarks)
    assert tris.shape[1] == 3 and len(tris) > 90
    for blend in ("poisson", "alpha"):
        out1 = swap_face(a.image, a.landmarks, b.image, b.landmarks, tris, np.random.default_rng(3), 1.0, blend)
        out2 = swap_face(a.image, a.landmarks, b.image, b.landmarks, tris, np.random.default_rng(3), 1.0, blend)
        assert np.array_equal(out1, out2)
        hull = np.zeros(a.image.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(a.landmarks.astype(np.int32)), 1)
        hull = cv2.dilate(hull, np.ones((25, 25), np.uint8)) > 0  # the hull plus the landmark jitter
        outside = np.abs(out1.astype(int) - a.image.astype(int)).max(-1)[~hull]
        assert outside.max() <= 2 and outside.mean() < 0.05, f"{blend}: pixels far outside the face changed"
        assert np.abs(out1.astype(int) - a.image.astype(int)).mean() > 1
    with pytest.raises(ValueError, match="unknown blend 'mix'"):
        swap_face(a.image, a.landmarks, b.image, b.landmarks, tris, np.random.default_rng(0), blend="mix")


def test_same_options_same_media(media, tmp_path) -> None:
    root, manifest = media
    again = build_demo_media(tmp_path / "again", TINY)
    assert again == manifest
    for clip in manifest["clips"]:
        first, _ = read_frames(root / clip["path"])
        second, _ = read_frames(tmp_path / "again" / clip["path"])
        assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True)), clip["path"]


def test_built_media_is_reused_and_an_interrupted_build_resumes(media, tmp_path, caplog) -> None:
    root, manifest = media
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")}
    with caplog.at_level(logging.INFO):
        assert build_demo_media(root, TINY) == manifest
    assert "reusing demo media" in caplog.text
    assert mtimes == {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")}
    # Interrupted copy: manifest not yet written, one clip missing.
    copy = tmp_path / "copy"
    build_demo_media(copy, TINY)
    (copy / MANIFEST).unlink()
    (copy / BUILDING).write_text(json.dumps({"key": TINY.key()}))
    missing = copy / manifest["clips"][-1]["path"]
    missing.unlink()
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*.mp4")}
    caplog.clear()
    with caplog.at_level(logging.INFO):
        build_demo_media(copy, TINY)
    assert "1 clips rendered" in caplog.text and missing.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())


def test_other_options_or_foreign_folders_are_refused(media, tmp_path) -> None:
    root, _ = media
    with pytest.raises(ValueError, match="other options.*delete it or point data.root elsewhere"):
        build_demo_media(root, DemoOptions(max_identities=2))
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(ValueError, match="holds no demo media"):
        build_demo_media(tmp_path, TINY)
    with pytest.raises(ValueError, match=r"unknown demo option\(s\) \['faces'\]"):
        DemoOptions.from_mapping({"faces": 3})


def test_demo_adapter_lists_the_folder_tree_as_dataset_demo(media) -> None:
    root, manifest = media
    cfg = OmegaConf.load(Path(__file__).parents[1] / "experiments" / "data" / "demo.yaml")
    cfg.root = str(root)
    cfg.options = OmegaConf.create({**TINY.__dict__})
    records = list_videos(cfg)
    assert len(records) == len(manifest["clips"])
    assert {r.dataset for r in records} == {"demo"} and {r.compression for r in records} == {"raw"}
    fakes = [r for r in records if r.label == 1]
    assert fakes and all(r.manipulation == "landmark_swap" and r.split == "test" for r in fakes)
    assert all(r.source_id != r.target_id for r in fakes)
    assert all(r.video_id.startswith("demo/real/raw/") for r in records if r.label == 0)


def test_swap_tool_turns_real_videos_into_a_folder_dataset(media, tmp_path) -> None:
    root, _ = media
    reals = tmp_path / "reals"
    reals.mkdir()
    for clip in sorted((root / "real").glob("*_00.mp4"))[:2]:
        (reals / clip.name).symlink_to(clip)
    out = tmp_path / "folder"
    summary = make_folder_dataset(reals, out, seed=0)
    assert summary == {"reals": 2, "fakes_made": 2, "frames_without_face": 0}
    fakes = sorted((out / "fake" / "landmark_swap").glob("*.mp4"))
    assert len(fakes) == 2 and len(list((out / "real").iterdir())) == 2
    assert len(read_frames(fakes[0])[0]) == TINY.frames_per_clip
    assert make_folder_dataset(reals, out, seed=0)["fakes_made"] == 0  # rerun keeps what exists
