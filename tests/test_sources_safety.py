"""Paths named by list and metadata files stay inside the dataset root; index files of the wrong JSON shape
and broken links among the videos are named, in one line, never a traceback or a silent loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_modules.sources import DatasetLayoutError, list_videos
from tests.test_sources import cfg, touch


def _folder_splits(root: Path, entry: str) -> object:
    touch(root, "real/a.mp4")
    (root / "splits.json").write_text(json.dumps({"real/a.mp4": "train", entry: "test"}))
    return cfg("folder", root)


def _dfdc_csv(root: Path, entry: str) -> object:
    touch(root, "test/aaa.mp4")
    (root / "test/labels.csv").write_text(f"filename,label\naaa.mp4,1\n{entry},0\n")
    return cfg("dfdc", root, preview=False)


def _dfdc_metadata(root: Path, entry: str) -> object:
    touch(root, "part_0/ccc.mp4")
    (root / "part_0/metadata.json").write_text(json.dumps({"ccc.mp4": {"label": "REAL"},
                                                           entry: {"label": "FAKE", "original": "ccc.mp4"}}))
    return cfg("dfdc", root, preview=False)


def _dfdc_preview(root: Path, entry: str) -> object:
    touch(root, "original_videos/1/1_0.mp4")
    (root / "dataset.json").write_text(json.dumps({"original_videos/1/1_0.mp4": {"label": "real", "set": "train"},
                                                   entry: {"label": "fake", "set": "test"}}))
    return cfg("dfdc", root, preview=True)


def _celebdf(root: Path, entry: str) -> object:
    touch(root, "Celeb-real/id0_0000.mp4")
    (root / "List_of_testing_videos.txt").write_text(f"1 Celeb-real/id0_0000.mp4\n1 {entry}\n")
    return cfg("celebdf", root)


def _forgerynet(root: Path, entry: str) -> object:
    touch(root, "Validation/video/v/1.mp4")
    (root / "Validation/video_list.txt").write_text(f"v/1.mp4 0\n{entry} 1\n")
    return cfg("forgerynet", root)


def _ffpp(root: Path, entry: str) -> object:
    for split, pairs in {"train": [[entry, "003"]], "val": [["001", "002"]], "test": [["004", "005"]]}.items():
        touch(root, f"splits/{split}.json")
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs))
    touch(root, "original_sequences/youtube/c23/videos/001.mp4")
    return cfg("ffpp", root, manipulations=[])


ESCAPES = [("folder", _folder_splits, "../outside.mp4"), ("folder", _folder_splits, "/etc/passwd.mp4"),
           ("dfdc labels.csv", _dfdc_csv, "../../outside.mp4"), ("dfdc labels.csv", _dfdc_csv, "/tmp/x.mp4"),
           ("dfdc metadata.json", _dfdc_metadata, "../x.mp4"), ("dfdc-preview", _dfdc_preview, "/abs/x.mp4"),
           ("dfdc-preview", _dfdc_preview, "method_A/../../x.mp4"), ("celebdf", _celebdf, "Celeb-real/../../x.mp4"),
           ("forgerynet", _forgerynet, "../../../x.mp4"), ("forgerynet", _forgerynet, "/x.mp4"),
           ("ffpp", _ffpp, "../000"), ("ffpp", _ffpp, "a/../../000")]


@pytest.mark.parametrize(("adapter", "make", "entry"), ESCAPES, ids=[f"{a}:{e}" for a, _, e in ESCAPES])
def test_an_entry_leaving_the_dataset_root_is_a_layout_error_naming_it(tmp_path, adapter, make, entry) -> None:
    data = make(tmp_path / "data", entry)
    with pytest.raises(DatasetLayoutError) as info:
        list_videos(data)
    message = str(info.value)
    assert f"entry '{entry}'" in message and "\n" not in message, message


@pytest.mark.parametrize(("adapter", "index", "content", "shape"), [
    ("folder", "splits.json", ["real/a.mp4"], "holds a JSON list"),
    ("folder", "splits.json", "real/a.mp4", "holds a JSON str"),
    ("folder", "splits.json", {"real/a.mp4": ["train"]}, "splits must be one of"),
    ("dfdc", "part_0/metadata.json", [{"ccc.mp4": "REAL"}], "holds a JSON list"),
    ("dfdc", "part_0/metadata.json", {"ccc.mp4": "REAL"}, "entry 'ccc.mp4' holds a str, not an object"),
    ("dfdc-preview", "dataset.json", {"ccc.mp4": 1}, "entry 'ccc.mp4' holds a int, not an object"),
    ("dfdc-preview", "dataset.json", 7, "holds a JSON int"),
])
def test_an_index_of_the_wrong_json_shape_gets_one_line(tmp_path, adapter, index, content, shape) -> None:
    root = tmp_path / "data"
    touch(root, "real/a.mp4", "part_0/ccc.mp4")
    (root / index).write_text(json.dumps(content))
    data = cfg("dfdc" if adapter.startswith("dfdc") else adapter, root, preview=adapter == "dfdc-preview")
    with pytest.raises(DatasetLayoutError) as info:
        list_videos(data)
    message = str(info.value)
    assert shape in message and str(root / index) in message and "\n" not in message, message


def test_broken_links_are_listed_not_dropped(tmp_path) -> None:
    root = tmp_path / "data"
    touch(root, "real/a.mp4")
    (root / "real" / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    records = {r.video_id: r for r in list_videos(cfg("folder", root))}
    assert set(records) == {"folder/real/raw/a", "folder/real/raw/gone"}
    assert Path(records["folder/real/raw/gone"].path).is_symlink()
