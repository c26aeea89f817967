"""Every dataset adapter parsed on generated directory trees (tiny dummy files stand in for videos)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from data_modules.sources import ADAPTERS, DatasetLayoutError, list_videos
from src.config import compose_config


def touch(root: Path, *relatives: str) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def cfg(adapter: str, root: Path, name: str | None = None, **options) -> OmegaConf:
    return OmegaConf.create({"name": name or adapter, "adapter": adapter, "root": str(root), "frames_per_video": 4,
                             "options": options})


def by_id(records):
    return {r.video_id: r for r in records}


@pytest.fixture
def ffpp_root(tmp_path: Path) -> Path:
    root = tmp_path / "FaceForensics++"
    splits = {"train": [["000", "003"]], "val": [["001", "002"]], "test": [["004", "005"]]}
    for split, pairs in splits.items():
        touch(root, f"splits/{split}.json")
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    ids = ["000", "001", "002", "003", "004", "005"]
    touch(root, *[f"original_sequences/youtube/c23/videos/{i}.mp4" for i in [*ids, "999"]])  # 999: in no split
    fakes = ["000_003", "003_000", "001_002", "002_001", "004_005"]  # 005_004 is listed but missing
    for method in ("Deepfakes", "FaceShifter"):
        touch(root, *[f"manipulated_sequences/{method}/c23/videos/{f}.mp4" for f in fakes])
    touch(root, "original_sequences/actors/c23/videos/01__exit_phone_room.mp4",
          "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__exit_phone_room__YVGY8LOK.mp4")
    return root


def test_ffpp_official_splits_ids_and_identities(ffpp_root, caplog):
    data = cfg("ffpp", ffpp_root, compressions=["c23"], manipulations=["Deepfakes", "FaceShifter", "DeepFakeDetection"])
    with caplog.at_level(logging.WARNING):
        records = by_id(list_videos(data))
    assert len(records) == 6 + 6 * 2 + 2
    real, fake = records["ffpp/real/c23/000"], records["ffpp/Deepfakes/c23/000_003"]
    assert (real.label, real.split, real.manipulation, real.compression) == (0, "train", "real", "c23")
    assert (fake.label, fake.split, fake.target_id, fake.source_id) == (1, "train", "000", "003")
    assert records["ffpp/FaceShifter/c23/002_001"].split == "val"
    assert records["ffpp/real/c23/005"].split == "test"
    missing = records["ffpp/Deepfakes/c23/005_004"]
    assert not Path(missing.path).exists() and missing.split == "test"  # kept: preprocess indexes it as skipped
    assert "ffpp/real/c23/999" not in records
    dfd = records["ffpp/DeepFakeDetection/c23/01_02__exit_phone_room__YVGY8LOK"]
    assert (dfd.label, dfd.split, dfd.target_id, dfd.source_id) == (1, "test", "01", "02")
    assert records["ffpp/real/c23/01__exit_phone_room"].label == 0
    assert list(records) == sorted(records)
    assert "missing on disk" in caplog.text and "in no official split" in caplog.text


def test_ffpp_through_the_config_tree(ffpp_root):
    config = compose_config(["data=ffpp", f"data.root={ffpp_root}", "data.options.manipulations=[Deepfakes]"])
    records = list_videos(config.data)
    assert {r.manipulation for r in records} == {"real", "Deepfakes"} and len(records) == 12


def test_ffpp_layout_errors_name_the_fix(ffpp_root):
    with pytest.raises(DatasetLayoutError, match="NeuralTextures/c23/videos is missing"):
        list_videos(cfg("ffpp", ffpp_root, manipulations=["NeuralTextures"]))
    with pytest.raises(ValueError, match="unknown FF\\+\\+ manipulation"):
        list_videos(cfg("ffpp", ffpp_root, manipulations=["Deepfake"]))
    (ffpp_root / "splits" / "val.json").unlink()
    with pytest.raises(DatasetLayoutError, match="splits/val.json is missing"):
        list_videos(cfg("ffpp", ffpp_root))


def test_celebdf_list_label_one_means_real(tmp_path):
    root = tmp_path / "Celeb-DF-v2"
    touch(root, "Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "YouTube-real/00170.mp4",
          "Celeb-synthesis/id0_id16_0000.mp4", "Celeb-synthesis/id1_id2_0003.mp4")
    (root / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id16_0000.mp4\n"
                                                     "1 Celeb-real/id0_0000.mp4\n")
    records = by_id(list_videos(cfg("celebdf", root)))
    assert len(records) == 5
    assert records["celebdf/real/raw/00170"].label == 0 and records["celebdf/real/raw/00170"].split == "test"
    fake = records["celebdf/Celeb-synthesis/raw/id0_id16_0000"]
    assert (fake.label, fake.split, fake.target_id, fake.source_id) == (1, "test", "id0", "id16")
    assert records["celebdf/Celeb-synthesis/raw/id1_id2_0003"].split in ("train", "val")
    (root / "List_of_testing_videos.txt").write_text("0 Celeb-real/id1_0001.mp4\n")
    with pytest.raises(DatasetLayoutError, match="against its folder"):
        list_videos(cfg("celebdf", root))


def test_deeperforensics_fakes_with_ffpp_reals(tmp_path, ffpp_root):
    root = tmp_path / "DeeperForensics-1.0"
    touch(root, "manipulated_videos/end_to_end/000_M101.mp4", "manipulated_videos/end_to_end/001_W102.mp4",
          "manipulated_videos/reenact_postprocess/000_M101.mp4", "lists/splits/test.txt", "lists/splits/train.txt")
    (root / "lists/splits/test.txt").write_text("000_M101.mp4\n")
    (root / "lists/splits/train.txt").write_text("001_W102.mp4\n")
    records = by_id(list_videos(cfg("deeperforensics", root, ffpp_root=str(ffpp_root))))
    assert set(records) == {"deeperforensics/end_to_end/raw/000_M101", "deeperforensics/end_to_end/raw/001_W102",
                            "deeperforensics/real/c23/000", "deeperforensics/real/c23/001"}
    fake = records["deeperforensics/end_to_end/raw/000_M101"]
    assert (fake.label, fake.split, fake.target_id, fake.source_id) == (1, "test", "000", "M101")
    assert records["deeperforensics/real/c23/001"].split == "train"
    with pytest.raises(DatasetLayoutError, match="ffpp_root"):
        list_videos(cfg("deeperforensics", root, ffpp_root=str(tmp_path / "nope")))
    assert len(list_videos(cfg("deeperforensics", root, variants=["end_to_end", "reenact_postprocess"]))) == 3


def test_forgerynet_lists(tmp_path):
    root = tmp_path / "ForgeryNet"
    touch(root, "Training/video/train_video_release/1/a/v1.mp4", "Validation/video/val_video_release/2/b/v2.mp4")
    (root / "Training/video_list.txt").write_text("train_video_release/1/a/v1.mp4 1 3\n")
    (root / "Validation/video_list.txt").write_text("val_video_release/2/b/v2.mp4 0\nval_video_release/9/x.mp4 1\n")
    records = by_id(list_videos(cfg("forgerynet", root)))
    assert set(records) == {"forgerynet/type3/raw/train_video_release__1__a__v1",
                            "forgerynet/real/raw/val_video_release__2__b__v2",
                            "forgerynet/fake/raw/val_video_release__9__x"}
    assert records["forgerynet/real/raw/val_video_release__2__b__v2"].split == "test"
    assert records["forgerynet/type3/raw/train_video_release__1__a__v1"].split in ("train", "val")
    (root / "Validation/video_list.txt").write_text("v.mp4 maybe\n")
    with pytest.raises(DatasetLayoutError, match="video_list.txt:1"):
        list_videos(cfg("forgerynet", root))


def test_forgerynet_test_lists_restrict_the_test_set(tmp_path, caplog):
    """data.options.test_lists: the reference's test_real.txt / test_fake.txt format (one video folder a line,
    relative to the video release folder) keeps only the listed Validation videos."""
    root, lists = tmp_path / "ForgeryNet", tmp_path / "splits"
    videos = {"val_video_release/18/aa/video.mp4": 0, "val_video_release/18/bb/video.mp4": 0,
              "val_video_release/1/cc/dd/video.mp4": 1, "val_video_release/1/ee/ff/video.mp4": 1}
    touch(root, "Training/video/train_video_release/1/a/v1.mp4", *(f"Validation/video/{v}" for v in videos))
    (root / "Training/video_list.txt").write_text("train_video_release/1/a/v1.mp4 1 3\n")
    (root / "Validation/video_list.txt").write_text("".join(f"{v} {y} {y}\n" for v, y in videos.items()))
    lists.mkdir()
    (lists / "test_real.txt").write_text("18/aa/\n18/zz/\n")
    (lists / "test_fake.txt").write_text("1/cc/dd/\n")
    with caplog.at_level("INFO"):
        records = by_id(list_videos(cfg("forgerynet", root, test_lists=str(lists))))
    test = {v: r.label for v, r in records.items() if r.split == "test"}
    assert test == {"forgerynet/real/raw/val_video_release__18__aa__video": 0,
                    "forgerynet/type1/raw/val_video_release__1__cc__dd__video": 1}
    assert "forgerynet/type3/raw/train_video_release__1__a__v1" in records  # training videos are kept
    assert any("2 of 3 listed videos found, 2 unlisted test videos left out" in r.message for r in caplog.records)
    assert any("not in Validation/video_list.txt, e.g. 18/zz" in r.message for r in caplog.records)
    assert len([r for r in list_videos(cfg("forgerynet", root)) if r.split == "test"]) == 4  # no lists: all
    (lists / "test_fake.txt").write_text("18/bb\n")
    with pytest.raises(DatasetLayoutError, match="18/bb is listed as fake but .* has label 0"):
        list_videos(cfg("forgerynet", root, test_lists=str(lists)))
    (lists / "test_fake.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="test_fake.txt is missing"):
        list_videos(cfg("forgerynet", root, test_lists=str(lists)))


def test_dfdc_labels_csv_and_metadata(tmp_path):
    root = tmp_path / "DFDC"
    touch(root, "test/aaa.mp4", "test/bbb.mp4", "dfdc_train_part_0/ccc.mp4", "dfdc_train_part_0/ddd.mp4")
    (root / "test/labels.csv").write_text("filename,label\naaa.mp4,1\nbbb.mp4,0\n")
    (root / "dfdc_train_part_0/metadata.json").write_text(json.dumps({
        "ccc.mp4": {"label": "FAKE", "split": "train", "original": "ddd.mp4"},
        "ddd.mp4": {"label": "REAL", "split": "train"}}))
    records = by_id(list_videos(cfg("dfdc", root, preview=False)))
    assert records["dfdc/fake/raw/aaa"].split == "test" and records["dfdc/real/raw/bbb"].label == 0
    assert records["dfdc/fake/raw/ccc"].source_id == "ddd" and records["dfdc/fake/raw/ccc"].split in ("train", "val")
    assert Path(records["dfdc/real/raw/ddd"].path).is_file()


def test_dfdc_preview_dataset_json(tmp_path):
    root = tmp_path / "DFDCP"
    touch(root, "method_A/1255229/1255229_A/1255229_A_001.mp4", "original_videos/1255229/1255229_0.mp4")
    (root / "dataset.json").write_text(json.dumps({
        "method_A/1255229/1255229_A/1255229_A_001.mp4": {"label": "fake", "set": "test", "target_id": "1255229"},
        "original_videos/1255229/1255229_0.mp4": {"label": "real", "set": "train"}}))
    records = by_id(list_videos(cfg("dfdc", root, name="dfdcp", preview=True)))
    fake = records["dfdcp/method_A/raw/method_A__1255229__1255229_A__1255229_A_001"]
    assert (fake.label, fake.split, fake.target_id) == (1, "test", "1255229")
    assert records["dfdcp/real/raw/original_videos__1255229__1255229_0"].split in ("train", "val")


def test_folder_videos_frame_folders_and_splits_json(tmp_path, caplog):
    root = tmp_path / "mine"
    touch(root, "real/a.mp4", "real/b.mov", "real/c/0001.png", "real/readme.txt", "fake/swap/x.mp4",
          "fake/swap/y/00.jpg", "fake/reenact/z.avi")
    (root / "splits.json").write_text(json.dumps({"real/a.mp4": "val", "fake/swap/x.mp4": "train",
                                                  "real/gone.mp4": "test"}))
    with caplog.at_level(logging.WARNING):
        records = by_id(list_videos(cfg("folder", root, name="mine", val_fraction=0.15, test_fraction=0.3)))
    assert set(records) == {"mine/real/raw/a", "mine/real/raw/b", "mine/real/raw/c", "mine/swap/raw/x",
                            "mine/swap/raw/y", "mine/reenact/raw/z"}
    assert records["mine/real/raw/a"].split == "val" and records["mine/swap/raw/x"].split == "train"
    assert records["mine/swap/raw/y"].split == "test" and records["mine/reenact/raw/z"].label == 1
    assert "readme.txt" in caplog.text and "real/gone.mp4" in caplog.text
    again = by_id(list_videos(cfg("folder", root, name="mine", val_fraction=0.15, test_fraction=0.3)))
    assert again == records  # hash splits are stable


def test_folder_hash_split_fractions(tmp_path):
    root = tmp_path / "many"
    touch(root, *[f"real/v{i:03d}.mp4" for i in range(400)])
    splits = [r.split for r in list_videos(cfg("folder", root, val_fraction=0.2, test_fraction=0.3))]
    assert abs(splits.count("test") / 400 - 0.3) < 0.08 and abs(splits.count("val") / 400 - 0.2) < 0.08


def test_duplicate_ids_are_refused(tmp_path):
    touch(tmp_path, "real/a.mp4", "real/a.avi")
    with pytest.raises(DatasetLayoutError, match="two videos map to the id folder/real/raw/a"):
        list_videos(cfg("folder", tmp_path))


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS.names() if a != "demo"])
def test_empty_dataset_folder_names_folder_and_layout(tmp_path, adapter):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DatasetLayoutError) as err:
        list_videos(cfg(adapter, root))
    assert str(root) in str(err.value) and "<root>/" in str(err.value)


def test_missing_root_and_unknown_adapter(tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        list_videos(cfg("folder", tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="valid choices: ffpp"):
        list_videos(cfg("youtube", tmp_path))
