"""Frame sampling: uniform indices, the right frames decoded, VFR, rotation, grayscale, folders, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from data_modules.preprocess import VideoReadError, sample_frames, uniform_indices
from tests.face_media import set_mp4_rotation, write_video


def numbered_frames(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Flat grey frames whose level encodes the frame number (8 levels apart, survives lossy coding)."""
    return [np.full((height, width, 3), 8 * i + 4, dtype=np.uint8) for i in range(n)]


def levels(frames: list[tuple[int, np.ndarray]]) -> list[int]:
    """Frame numbers read back from the grey levels."""
    return [int(round((float(f.mean()) - 4) / 8)) for _, f in frames]


def test_uniform_indices_spread_ends_and_short_videos():
    assert uniform_indices(100, 5) == [0, 25, 50, 74, 99]
    assert uniform_indices(3, 32) == [0, 1, 2]
    assert uniform_indices(0, 4) == []
    idx = uniform_indices(1000, 32)
    assert len(set(idx)) == 32 and idx[0] == 0 and idx[-1] == 999
    assert max(np.diff(idx)) - min(np.diff(idx)) <= 1


def test_video_frames_are_the_requested_ones(tmp_path):
    path = write_video(tmp_path / "n.mp4", numbered_frames(30))
    frames = sample_frames(path, 5)
    assert [i for i, _ in frames] == [0, 7, 14, 22, 29]
    assert levels(frames) == [0, 7, 14, 22, 29]
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for _, f in frames)


def test_variable_frame_rate_counts_frames_not_time(tmp_path):
    pts = [0, 10, 20, 400, 410, 420, 1500, 1510, 1520, 1530]  # bursts and long gaps, milliseconds
    path = write_video(tmp_path / "vfr.mp4", numbered_frames(10), pts=pts)
    frames = sample_frames(path, 4)
    assert [i for i, _ in frames] == [0, 3, 6, 9]
    assert levels(frames) == [0, 3, 6, 9]


def test_mpeg_program_stream_without_frame_count(shared_media):
    frames = sample_frames(shared_media / "grid" / "bbaf2n.mpg", 8)
    assert len(frames) == 8 and frames[0][0] == 0 and frames[-1][0] >= 70
    assert frames[0][1].shape == (288, 360, 3)


def test_rotation_metadata_is_applied(tmp_path):
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:16, :16] = 255  # white top-left corner
    path = write_video(tmp_path / "rot.mp4", [image] * 3)
    set_mp4_rotation(path, 90)
    (_, frame), *_ = sample_frames(path, 1)
    assert frame.shape == (64, 48, 3)  # portrait after a quarter turn
    assert frame[:16, -16:].mean() > 200 and frame[:16, :16].mean() < 50  # clockwise: top-left -> top-right


def test_grayscale_video_comes_back_rgb(tmp_path):
    path = write_video(tmp_path / "gray.mkv", numbered_frames(6), codec="ffv1", pix_fmt="gray")
    frames = sample_frames(path, 3)
    assert all(f.shape == (48, 64, 3) for _, f in frames)
    assert levels(frames) == [0, 2, 5]


def test_unicode_path(tmp_path):
    path = write_video(tmp_path / "vidéo_фильм_视频" / "clip ü.mp4", numbered_frames(5))
    assert levels(sample_frames(path, 2)) == [0, 4]


def test_frame_folder_sorted_by_name_with_grayscale_and_broken_images(tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(numbered_frames(6)):
        cv2.imwrite(str(folder / f"f{i:02d}.png"), image[..., 0] if i == 2 else image)  # one grayscale png
    (folder / "f03.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored")
    frames = sample_frames(folder, 6)
    assert [i for i, _ in frames] == [0, 1, 2, 4, 5]  # the unreadable f03 is left out
    assert levels(frames) == [0, 1, 2, 4, 5] and all(f.shape == (48, 64, 3) for _, f in frames)


def test_truncated_video_gives_the_frames_it_has(tmp_path):
    cut = write_video(tmp_path / "cut.avi", numbered_frames(30, 96, 128))  # avi: index at the end, frames in order
    raw = cut.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    frames = sample_frames(cut, 8)
    got = levels(frames)
    assert 2 <= len(frames) <= 8 and got[-1] < 29
    assert [i for i, _ in frames] == got  # indices still name the frames they hold


def test_truncated_mp4_without_index_is_unreadable(tmp_path):
    path = write_video(tmp_path / "cut.mp4", numbered_frames(30, 96, 128))  # moov atom written last
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoReadError, match="cannot open video"):
        sample_frames(path, 8)


@pytest.mark.parametrize("content, reason", [(b"", "empty file"), (b"hello, I am text" * 50, "cannot open video")])
def test_unreadable_files_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match=reason):
        sample_frames(path, 4)


def test_missing_file_and_empty_frame_folder(tmp_path):
    with pytest.raises(VideoReadError, match="missing file"):
        sample_frames(tmp_path / "gone.mp4", 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="holds no images"):
        sample_frames(tmp_path / "empty", 4)
