"""The DeepfakeBench adapter on a generated tree in its format: listing, identities, prepared crops, cache."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from data_modules.cache import FaceCache
from data_modules.preprocess import VideoReadError
from data_modules.preprocess.prepared import read_prepared_track
from data_modules.sources import DatasetLayoutError, list_videos, prepared_frames_of
from data_modules.sources.identities import celebdf_ids, ffpp_ids
from src.artifacts.faces import build_face_cache
from src.artifacts.store import ArtifactStore
from src.config import compose_config

NUMBERS = (20, 0, 40, 10, 30)  # frame numbers, in the unsorted order os.scandir gives DeepfakeBench's JSON
SIZE = 64
NO_DETECTOR = {"backend": "no-such-detector"}  # building or checking a detector with this would raise
GRID = np.stack([10 + (np.arange(81) % 9) * 5, 10 + (np.arange(81) // 9) * 5], axis=1).astype(np.float32)


def landmarks_of(number: int, points: int = 81) -> np.ndarray:
    """The dlib points written for a frame: a 9x9 grid moved by number / 10 pixels."""
    return (GRID[:points] + number / 10).astype(np.int64)  # dlib's shape_to_np gives integers


def write_video(root: Path, folder: str, numbers=NUMBERS, points: int = 81) -> list[str]:
    """Crops frames/<video>/NNN.png (RGB 200, 100, number) and landmarks/<video>/NNN.npy; the frame paths."""
    paths = []
    for number in numbers:
        image = root / folder / f"{number:03d}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image), np.full((SIZE, SIZE, 3), (number, 100, 200), np.uint8))  # BGR on disk
        landmarks = root / folder.replace("frames", "landmarks") / f"{number:03d}.npy"
        landmarks.parent.mkdir(parents=True, exist_ok=True)
        np.save(landmarks, landmarks_of(number, points))
        paths.append(f"{folder}/{number:03d}.png")
    return paths


def entry(label: str, frames: list[str], windows: bool = False, masks: bool = False) -> dict:
    listed = [f.replace("/", "\\") for f in frames] if windows else frames
    return {"label": label, "frames": listed, **({"masks": []} if masks else {})}


def write_json(root: Path, dataset: str, tree: dict) -> Path:
    path = root / "dataset_json" / f"{dataset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({dataset: tree}))
    return path


@pytest.fixture
def dfb_root(tmp_path: Path) -> Path:
    """FaceForensics++ (c23 + one c40 real; FF-DF, FF-F2F) and Celeb-DF-v2 as rearrange.py lays them out."""
    root = tmp_path / "rgb"
    youtube = "original_sequences/youtube"
    df, f2f = "manipulated_sequences/Deepfakes", "manipulated_sequences/Face2Face"

    def ff(label: str, kind: str, video: str, comp: str = "c23", **style) -> dict:
        return entry(label, write_video(root, f"FaceForensics++/{kind}/{comp}/frames/{video}"), **style)

    real = {v: ff("FF-real", youtube, v, windows=True) for v in ("000", "003", "001", "004")}
    write_json(root, "FaceForensics++", {
        "FF-real": {"train": {"c23": {"000": real["000"], "003": real["003"]},
                              "c40": {"000": ff("FF-real", youtube, "000", comp="c40")}},
                    "val": {"c23": {"001": real["001"]}, "c40": {}},
                    "test": {"c23": {"004": real["004"]}, "c40": {}}},
        "FF-DF": {"train": {"c23": {"000_003": ff("FF-DF", df, "000_003", masks=True)}}, "val": {"c23": {}},
                  "test": {"c23": {"004_005": ff("FF-DF", df, "004_005", masks=True)}}},
        "FF-F2F": {"train": {"c23": {"003_000": ff("FF-F2F", f2f, "003_000", masks=True)}},
                   "val": {"c23": {"001_002": ff("FF-F2F", f2f, "001_002", masks=True)}},
                   "test": {"c23": {}}},
    })

    def cdf(folder: str, video: str, label: str) -> dict:
        return entry(label, write_video(root, f"Celeb-DF-v2/{folder}/frames/{video}"))

    real_folders = {"id0_0000": "Celeb-real", "id1_0001": "Celeb-real", "00170": "YouTube-real",
                    "id2_0002": "Celeb-real"}
    reals = {v: cdf(folder, v, "CelebDFv2_real") for v, folder in real_folders.items()}
    fakes = {v: cdf("Celeb-synthesis", v, "CelebDFv2_fake") for v in ("id0_id1_0000", "id2_id0_0003")}
    # rearrange.py: every video in train, the test list in test and (again) in val
    write_json(root, "Celeb-DF-v2", {
        "CelebDFv2_real": {"train": reals, **{s: {"id2_0002": reals["id2_0002"]} for s in ("val", "test")}},
        "CelebDFv2_fake": {"train": fakes,
                           **{s: {"id2_id0_0003": fakes["id2_id0_0003"]} for s in ("val", "test")}},
    })
    return root


def cfg(root: Path, dataset: str, name: str = "dfb", frames: int = 3, **options) -> OmegaConf:
    return OmegaConf.create({"name": name, "adapter": "deepfakebench", "root": str(root),
                             "frames_per_video": frames, "options": {"dataset": dataset, **options}})


def table(records) -> dict[str, tuple]:
    return {r.video_id: (r.label, r.split, r.manipulation, r.compression, r.source_id, r.target_id)
            for r in records}


def test_ffpp_json_lists_videos_labels_splits_and_identities(dfb_root):
    records = list_videos(cfg(dfb_root, "FaceForensics++", compressions=["c23"]))
    assert table(records) == {
        "dfb/FF-DF/c23/000_003": (1, "train", "FF-DF", "c23", "003", "000"),
        "dfb/FF-DF/c23/004_005": (1, "test", "FF-DF", "c23", "005", "004"),
        "dfb/FF-F2F/c23/001_002": (1, "val", "FF-F2F", "c23", "002", "001"),
        "dfb/FF-F2F/c23/003_000": (1, "train", "FF-F2F", "c23", "000", "003"),
        "dfb/real/c23/000": (0, "train", "real", "c23", "000", "000"),
        "dfb/real/c23/001": (0, "val", "real", "c23", "001", "001"),
        "dfb/real/c23/003": (0, "train", "real", "c23", "003", "003"),
        "dfb/real/c23/004": (0, "test", "real", "c23", "004", "004"),
    }
    real = next(r for r in records if r.video_id == "dfb/real/c23/000")
    # listed with '\\' separators
    assert Path(real.path) == dfb_root / "FaceForensics++/original_sequences/youtube/c23/frames/000"
    every = table(list_videos(cfg(dfb_root, "FaceForensics++", compressions=None)))
    assert set(every) - set(table(records)) == {"dfb/real/c40/000"}
    picked = table(list_videos(cfg(dfb_root, "FaceForensics++", compressions=["c23"],
                                   manipulations=["FF-DF"])))
    assert {k.split("/")[1] for k in picked} == {"real", "FF-DF"} and len(picked) == 6
    reals_only = table(list_videos(cfg(dfb_root, "FaceForensics++", compressions=["c23"], manipulations=[])))
    assert {v[0] for v in reals_only.values()} == {0} and len(reals_only) == 4


def test_filters_naming_nothing_in_the_json_are_errors(dfb_root):
    with pytest.raises(ValueError, match=r"manipulations \['FF-XX'\] are not in .*FaceForensics\+\+.json; "
                                         r"it has \['FF-DF', 'FF-F2F'\]"):
        list_videos(cfg(dfb_root, "FaceForensics++", manipulations=["FF-XX"]))
    with pytest.raises(ValueError, match=r"compressions \['c0'\].*it has \['c23', 'c40'\]"):
        list_videos(cfg(dfb_root, "FaceForensics++", compressions=["c0"]))


def test_celebdf_test_wins_over_the_copies_in_train_and_val(dfb_root):
    records = list_videos(cfg(dfb_root, "Celeb-DF-v2", name="cdf", compressions=["c23"], val_fraction=0.0))
    assert table(records) == {
        "cdf/CelebDFv2_fake/raw/id0_id1_0000": (1, "train", "CelebDFv2_fake", "raw", "id1", "id0"),
        "cdf/CelebDFv2_fake/raw/id2_id0_0003": (1, "test", "CelebDFv2_fake", "raw", "id0", "id2"),
        "cdf/real/raw/00170": (0, "train", "real", "raw", "", ""),
        "cdf/real/raw/id0_0000": (0, "train", "real", "raw", "id0", "id0"),
        "cdf/real/raw/id1_0001": (0, "train", "real", "raw", "id1", "id1"),
        "cdf/real/raw/id2_0002": (0, "test", "real", "raw", "id2", "id2"),
    }
    # no video is val-only, so val comes from train by a stable hash of the name
    splits = {r.video_id: r.split for r in list_videos(cfg(dfb_root, "Celeb-DF-v2", val_fraction=1.0))}
    assert sorted(splits.values()) == ["test", "test", "val", "val", "val", "val"]


def test_through_the_config_tree(dfb_root):
    config = compose_config(["data=deepfakebench", f"data.root={dfb_root}",
                             "data.options.dataset=Celeb-DF-v2"])
    records = list_videos(config.data)
    assert config.data.name == "dfb_Celeb-DF-v2" and len(records) == 6
    assert {r.dataset for r in records} == {"dfb_Celeb-DF-v2"}


@pytest.mark.parametrize("frame", ["../outside/000.png", "UADFV/../../outside/000.png", "/etc/passwd",
                                   "C:\\data\\rgb\\UADFV\\000.png", "\\\\server\\share\\000.png"])
def test_paths_leaving_the_root_are_refused_naming_the_entry(tmp_path, frame):
    write_json(tmp_path, "UADFV", {"UADFV_Real": {"test": {"0001": entry("UADFV_Real", [frame])}}})
    with pytest.raises(DatasetLayoutError) as err:
        list_videos(cfg(tmp_path, "UADFV"))
    message = str(err.value)
    assert "UADFV/UADFV_Real/test/0001" in message and frame in message and "strip_prefix" in message
    assert "\n" not in message


def test_strip_prefix_makes_absolute_json_paths_root_relative(tmp_path):
    frames = write_video(tmp_path, "UADFV/real/frames/0001")
    absolute = [f"D:\\bench\\datasets\\rgb\\{f}".replace("/", "\\") for f in frames]
    write_json(tmp_path, "UADFV", {"UADFV_Real": {"test": {"0001": entry("UADFV_Real", absolute)}}})
    for prefix in ("D:\\bench\\datasets\\rgb\\", "D:/bench/datasets/rgb"):
        data = cfg(tmp_path, "UADFV", strip_prefix=prefix)
        (record,) = list_videos(data)
        assert Path(record.path) == tmp_path / "UADFV/real/frames/0001"
        frames = prepared_frames_of(data)(record, data)
        folder = tmp_path / "UADFV/real/frames/0001"
        assert [f.image for f in frames] == [folder / f"{n:03d}.png" for n in sorted(NUMBERS)]


@pytest.mark.parametrize(("text", "expected"), [
    ("{not json", "is not valid JSON"),
    ("[]", "has no top-level key 'UADFV' (found: list)"),
    ('{"UADFV-v2": {}}', "has no top-level key 'UADFV' (found: UADFV-v2)"),
    ('{"UADFV": {"UADFV_Real": {"train": ["0001"]}}}', "UADFV/UADFV_Real/train is a list, not an object"),
    ('{"UADFV": {"UADFV_Real": {"training": {}}}}', "UADFV/UADFV_Real/training is not a split"),
    ('{"UADFV": {"UADFV_Real": {"test": {"c23": {"0001": {"label": "UADFV_Real"}}}}}}',
     "UADFV/UADFV_Real/test/c23/0001 has no 'frames' list"),
    ('{"UADFV": {"UADFV_Real": {"test": {"0001": {"label": "UADFV_Real", "frames": "a.png"}}}}}',
     "'frames' of UADFV/UADFV_Real/test/0001 is not a list"),
])
def test_a_json_of_the_wrong_shape_is_one_line_naming_the_file(tmp_path, text, expected):
    path = tmp_path / "dataset_json" / "UADFV.json"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(DatasetLayoutError) as err:
        list_videos(cfg(tmp_path, "UADFV"))
    message = str(err.value)
    assert str(path) in message and expected in message and "\n" not in message
    assert '{"<dataset>": {"<label>": {"train|val|test"' in message


def test_unknown_labels_are_refused_unless_configured(tmp_path):
    frames = write_video(tmp_path, "Mine/frames/a")
    write_json(tmp_path, "Mine", {"mine_fake": {"test": {"a": entry("mine_fake", frames)}}})
    with pytest.raises(DatasetLayoutError, match="label 'mine_fake' of mine_fake/a is not a DeepfakeBench "
                                                 "label; add it to data.options.labels"):
        list_videos(cfg(tmp_path, "Mine"))
    (record,) = list_videos(cfg(tmp_path, "Mine", labels={"mine_fake": 1}))
    assert (record.video_id, record.label) == ("dfb/mine_fake/raw/a", 1)


def test_dfdc_val_written_as_a_bare_entry_is_ignored(tmp_path, caplog):
    a, b = write_video(tmp_path, "DFDC/train/frames/a"), write_video(tmp_path, "DFDC/test/frames/b")
    write_json(tmp_path, "DFDC", {
        "DFDC_Real": {"train": {"a": entry("DFDC_Real", a)}, "val": entry("DFDC_Real", b), "test": {}},
        "DFDC_Fake": {"train": {}, "val": {}, "test": {"b": entry("DFDC_Fake", b)}},
    })
    with caplog.at_level(logging.WARNING):
        records = table(list_videos(cfg(tmp_path, "DFDC", val_fraction=0.0)))
    assert records == {"dfb/real/raw/a": (0, "train", "real", "raw", "", ""),
                       "dfb/DFDC_Fake/raw/b": (1, "test", "DFDC_Fake", "raw", "", "")}
    assert "DFDC/DFDC_Real/val holds a bare label/frames instead of videos; ignored" in caplog.text


def test_missing_json_and_missing_dataset_option(dfb_root):
    with pytest.raises(DatasetLayoutError, match=r"dataset JSON .*dataset_json/UADFV.json is missing"):
        list_videos(cfg(dfb_root, "UADFV"))
    with pytest.raises(ValueError, match="data.options.dataset must name a DeepfakeBench dataset JSON"):
        list_videos(cfg(dfb_root, ""))


def _prepared(data: OmegaConf, video_id: str):
    record = next(r for r in list_videos(data) if r.video_id == video_id)
    return prepared_frames_of(data)(record, data)


def test_prepared_track_spaces_frames_and_keeps_the_68_ibug_points(dfb_root):
    data = cfg(dfb_root, "FaceForensics++", compressions=["c23"])
    frames = _prepared(data, "dfb/real/c23/000")
    assert [f.number for f in frames] == [0, 10, 20, 30, 40]  # sorted by frame number, '\\' paths read
    youtube = dfb_root / "FaceForensics++/original_sequences/youtube/c23"
    assert frames[1].landmarks == youtube / "landmarks/000/010.npy"
    track = read_prepared_track(frames, 3)
    assert list(track.frame_indices) == [0, 20, 40] and track.skipped == []
    assert track.landmarks.shape == (3, 68, 2) and track.landmarks.dtype == np.float32
    for t, number in enumerate((0, 20, 40)):
        np.testing.assert_array_equal(track.landmarks[t], landmarks_of(number)[:68])
        assert track.crops[t].shape == (SIZE, SIZE, 3) and tuple(track.crops[t][5, 5]) == (200, 100, number)
        shift = number // 10  # the box of the first 68 points: grid columns 0..8, rows 0..7
        np.testing.assert_array_equal(track.boxes[t], [10 + shift, 10 + shift, 50 + shift, 45 + shift])
    np.testing.assert_array_equal(track.crop_boxes, [[0, 0, SIZE, SIZE]] * 3)
    np.testing.assert_array_equal(track.scores, [1, 1, 1])
    assert len(read_prepared_track(frames, 32).crops) == 5


def test_prepared_track_skips_frames_with_a_reason(dfb_root):
    data = cfg(dfb_root, "FaceForensics++", compressions=["c23"])
    frames = _prepared(data, "dfb/real/c23/003")
    frames[2].landmarks.unlink()  # frame 20
    np.save(frames[4].landmarks, np.zeros((5, 2)))  # frame 40: not a landmark set
    frames[3].image.write_bytes(b"not a png")  # frame 30
    frames[1].image.unlink()  # frame 10
    track = read_prepared_track(frames, 5)
    assert list(track.frame_indices) == [0]
    assert track.skipped == [(10, "missing image"), (20, "no landmarks file"), (30, "unreadable image"),
                             (40, "unreadable landmarks")]
    with pytest.raises(VideoReadError, match=r"no usable prepared frame \(1 missing image, 1 no landmarks"):
        read_prepared_track(frames[1:], 5)
    with pytest.raises(VideoReadError, match="no frames listed"):
        read_prepared_track([], 5)


def test_prepared_track_reads_68_point_landmarks(tmp_path):
    frames = write_video(tmp_path, "UADFV/fake/frames/0001_fake", numbers=(0, 1), points=68)
    write_json(tmp_path, "UADFV", {"UADFV_Fake": {"test": {"0001_fake": entry("UADFV_Fake", frames)}}})
    track = read_prepared_track(_prepared(cfg(tmp_path, "UADFV"), "dfb/UADFV_Fake/raw/0001_fake"), 4)
    assert track.landmarks.shape == (2, 68, 2)
    np.testing.assert_array_equal(track.landmarks[1], landmarks_of(1, 68))


@pytest.mark.parametrize("workers", [0, 1])
def test_face_cache_from_deepfakebench_crops_without_a_detector(dfb_root, tmp_path, workers):
    data = cfg(dfb_root, "FaceForensics++", compressions=["c23"])
    ffpp = dfb_root / "FaceForensics++"
    (ffpp / "original_sequences/youtube/c23/landmarks/003/020.npy").unlink()
    for path in (ffpp / "manipulated_sequences/Deepfakes/c23/landmarks/004_005").iterdir():
        path.unlink()  # a video whose every landmark file is missing
    built = build_face_cache(ArtifactStore(tmp_path / "a"), data, {**NO_DETECTOR, "num_workers": workers})
    cache, summary = FaceCache(built.cache_dir), built.summary
    index = {r.video_id: (r.status, r.reason, r.num_frames, r.split, r.target_id) for r in cache.read_index()}
    assert index == {
        "dfb/FF-DF/c23/000_003": ("ok", "", 3, "train", "000"),
        "dfb/FF-DF/c23/004_005": ("skipped", "no usable prepared frame (3 no landmarks file)", 0, "test",
                                  "004"),
        "dfb/FF-F2F/c23/001_002": ("ok", "", 3, "val", "001"),
        "dfb/FF-F2F/c23/003_000": ("ok", "", 3, "train", "003"),
        "dfb/real/c23/000": ("ok", "", 3, "train", "000"),
        "dfb/real/c23/001": ("ok", "", 3, "val", "001"),
        "dfb/real/c23/003": ("ok", "", 2, "train", "003"),
        "dfb/real/c23/004": ("ok", "", 3, "test", "004"),
    }
    assert (summary.ok, summary.skipped, summary.frames, summary.frames_sampled) == (7, 1, 20, 21)
    faces = cache.read_faces("dfb/real/c23/003")
    assert list(faces.frame_indices) == [0, 40] and list(faces.skipped_frames) == [20]
    np.testing.assert_array_equal(faces.landmarks[1], landmarks_of(40)[:68])
    assert tuple(cache.read_crop("dfb/real/c23/003", 1)[0, 0]) == (200, 100, 40)  # the crop, not re-cropped


def test_identities_from_video_names():
    assert ffpp_ids("000") == ("000", "000") and ffpp_ids("000_003") == ("003", "000")
    assert ffpp_ids("01__exit_phone_room") == ("01", "01")
    assert ffpp_ids("01_02__exit_phone_room__YVGY8LOK") == ("02", "01")
    assert celebdf_ids("id0_0000") == ("id0", "id0") and celebdf_ids("id0_id16_0000") == ("id16", "id0")
    assert celebdf_ids("00170") == ("", "") and ffpp_ids("a_b_c") == ("", "")


def test_our_ffpp_and_celebdf_adapters_fill_real_identities(tmp_path):
    ffpp, celebdf = tmp_path / "FaceForensics++", tmp_path / "Celeb-DF-v2"
    for relative in ("original_sequences/youtube/c23/videos/000.mp4",
                     "original_sequences/youtube/c23/videos/003.mp4",
                     "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4"):
        (ffpp / relative).parent.mkdir(parents=True, exist_ok=True)
        (ffpp / relative).write_bytes(b"x")
    (ffpp / "splits").mkdir()
    for split, pairs in {"train": [["000", "003"]], "val": [], "test": []}.items():
        (ffpp / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    for relative in ("Celeb-real/id3_0002.mp4", "YouTube-real/00170.mp4", "Celeb-synthesis/id3_id5_0002.mp4"):
        (celebdf / relative).parent.mkdir(parents=True, exist_ok=True)
        (celebdf / relative).write_bytes(b"x")
    (celebdf / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n")
    configs = [{"name": "ffpp", "adapter": "ffpp", "root": str(ffpp),
                "options": {"manipulations": ["Deepfakes"]}},
               {"name": "celebdf", "adapter": "celebdf", "root": str(celebdf)}]
    ids = {r.video_id: (r.source_id, r.target_id) for c in configs for r in list_videos(OmegaConf.create(c))}
    assert ids == {"ffpp/real/c23/000": ("000", "000"), "ffpp/real/c23/003": ("003", "003"),
                   "ffpp/Deepfakes/c23/000_003": ("003", "000"), "ffpp/Deepfakes/c23/003_000": ("000", "003"),
                   "celebdf/real/raw/id3_0002": ("id3", "id3"), "celebdf/real/raw/00170": ("", ""),
                   "celebdf/Celeb-synthesis/raw/id3_id5_0002": ("id5", "id3")}
