"""The face cache's on-disk contract, shared by the preprocessing writer and every reader.

Layout under a dataset's cache root:
    index.csv                       one row per video: INDEX_FIELDS (status ok | skipped, with a reason)
    videos/<video_id>/record.json   the VideoRecord plus counts
    videos/<video_id>/faces.npz     landmarks [T,68,2] (crop coords), boxes, crop_boxes, scores,
                                    frame_indices, skipped_frames, skipped_reasons
    videos/<video_id>/frames/000.png ... enlarged RGB face crops: png (lossless), jpg (small) or npy (raw RGB
                                    uint8 arrays: several times the disk of png, but read without decoding)
Each video directory is written to a temp name and renamed, so it is either whole or absent. No pickle.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from data_modules.io import atomic_save_npz, atomic_write_bytes, atomic_write_json, load_npz
from data_modules.records import INDEX_FIELDS, STATUS_OK, IndexRow, VideoRecord, select_rows

NUM_LANDMARKS = 68
IMAGE_FORMATS = ("png", "jpg", "npy")


def encode_crop(crop: np.ndarray, image_format: str, jpeg_quality: int = 95) -> bytes:
    """One RGB uint8 crop as the bytes of a png, jpg or npy file."""
    if image_format == "npy":
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(crop, dtype=np.uint8), allow_pickle=False)
        return buf.getvalue()
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"face.image_format={image_format}: expected one of {', '.join(IMAGE_FORMATS)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_format == "jpg" else []
    ok, buf = cv2.imencode(f".{image_format}", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"could not encode a {list(crop.shape)} crop as {image_format}")
    return buf.tobytes()


@dataclass
class FaceTrack:
    """One video's faces: crops (RGB uint8, any size) and per-frame arrays aligned with them."""

    crops: list[np.ndarray]
    landmarks: np.ndarray  # [T,68,2] float32, crop pixel coordinates
    boxes: np.ndarray  # [T,4] float32 face box x0,y0,x1,y1 in source-frame pixels
    crop_boxes: np.ndarray  # [T,4] int32 crop window x0,y0,x1,y1 in source-frame pixels
    scores: np.ndarray  # [T] float32 detector confidence
    frame_indices: np.ndarray  # [T] int64 source frame numbers
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (frame number, reason)

    def __post_init__(self) -> None:
        t = len(self.crops)
        if self.landmarks.shape != (t, NUM_LANDMARKS, 2):
            raise ValueError(f"landmarks must be [{t},{NUM_LANDMARKS},2], got {list(self.landmarks.shape)}")
        for name in ("boxes", "crop_boxes", "scores", "frame_indices"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows for {t} crops")


@dataclass(frozen=True)
class VideoFaces:
    """A cached video's per-frame arrays, without the images (read those with FaceCache.read_crop)."""

    video_id: str
    landmarks: np.ndarray
    boxes: np.ndarray
    crop_boxes: np.ndarray
    scores: np.ndarray
    frame_indices: np.ndarray
    skipped_frames: np.ndarray
    skipped_reasons: np.ndarray

    @property
    def num_frames(self) -> int:
        """Number of cached face crops."""
        return len(self.frame_indices)


def video_relpath(video_id: str) -> Path:
    """Relative directory of a video id, refusing ids that would escape the cache."""
    parts = video_id.split("/")
    if len(parts) != 4 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"video_id must be 'dataset/manipulation/compression/video', got '{video_id}'")
    return Path(*parts)


class FaceCache:
    """Reader and writer of one dataset's face cache."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._crop_files: dict[str, list[Path]] = {}  # video_id -> crop files, listed once per process

    def video_dir(self, video_id: str) -> Path:
        """Directory holding one cached video."""
        return self.root / "videos" / video_relpath(video_id)

    def has_video(self, video_id: str) -> bool:
        """True when the video is whole: its record, its arrays and as many crop files as the record says
        (a folder someone deleted or emptied is rebuilt, not trusted)."""
        folder = self.video_dir(video_id)
        try:
            num_frames = int(self.read_record(video_id)["num_frames"])
            crops = sum(1 for _ in (folder / "frames").iterdir())
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return (folder / "faces.npz").is_file() and crops == num_frames

    def missing_videos(self) -> list[str]:
        """Ids of the index's `ok` videos that are not whole on disk."""
        return [row.video_id for row in self.read_index() if row.status == STATUS_OK and not self.has_video(row.video_id)]

    def write_video(self, record: VideoRecord, track: FaceTrack, image_format: str = "png",
                    jpeg_quality: int = 95) -> None:
        """Write one video's crops and arrays to a temp directory, then rename it into place."""
        final = self.video_dir(record.video_id)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "frames").mkdir(parents=True)
        for t, crop in enumerate(track.crops):
            (tmp / "frames" / f"{t:03d}.{image_format}").write_bytes(encode_crop(crop, image_format, jpeg_quality))
        atomic_save_npz(
            tmp / "faces.npz",
            landmarks=track.landmarks.astype(np.float32),
            boxes=track.boxes.astype(np.float32),
            crop_boxes=track.crop_boxes.astype(np.int32),
            scores=track.scores.astype(np.float32),
            frame_indices=track.frame_indices.astype(np.int64),
            skipped_frames=np.asarray([s[0] for s in track.skipped], dtype=np.int64),
            skipped_reasons=np.asarray([s[1] for s in track.skipped], dtype=np.str_),
        )
        atomic_write_json(tmp / "record.json", {**asdict(record), "num_frames": len(track.crops),
                                                "num_skipped": len(track.skipped), "image_format": image_format})
        shutil.rmtree(final, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        self._crop_files.pop(record.video_id, None)

    def read_record(self, video_id: str) -> dict:
        """The record.json of a cached video."""
        return json.loads((self.video_dir(video_id) / "record.json").read_text())

    def read_faces(self, video_id: str) -> VideoFaces:
        """Per-frame arrays of a cached video."""
        arrays = load_npz(self.video_dir(video_id) / "faces.npz")
        return VideoFaces(video_id=video_id, **arrays)

    def crop_paths(self, video_id: str) -> list[Path]:
        """Crop image files of a video, in frame order (the folder is listed once, not per frame read)."""
        if video_id not in self._crop_files:
            self._crop_files[video_id] = sorted((self.video_dir(video_id) / "frames").iterdir())
        return self._crop_files[video_id]

    def read_crop(self, video_id: str, t: int) -> np.ndarray:
        """The t-th cached face crop as RGB uint8."""
        path = self.crop_paths(video_id)[t]
        if path.suffix == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise OSError(f"cannot read cached crop {path} ({err}); delete {path.parent.parent} and rerun "
                              "preprocess") from None
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read cached crop {path}; delete {path.parent.parent} and rerun preprocess "
                          f"(python -m src.preprocess, or src.run, with the same config): it rebuilds that video")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def write_index(self, rows: list[IndexRow]) -> None:
        """Write index.csv atomically, sorted by video_id."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=INDEX_FIELDS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r.video_id):
            writer.writerow(asdict(row))
        atomic_write_bytes(self.root / "index.csv", buf.getvalue().encode())

    def read_index(self) -> list[IndexRow]:
        """Rows of index.csv, typed."""
        path = self.root / "index.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no face-cache index at {path}; run the preprocess stage for this dataset")
        with path.open(newline="") as handle:
            return [IndexRow.from_strings(r) for r in csv.DictReader(handle)]

    def select(self, split: str | None = None, label: int | None = None, usable: bool = True) -> list[IndexRow]:
        """Index rows filtered by split and label (usable ones only unless asked), in video_id order."""
        return select_rows(self.read_index(), split, label, usable)
