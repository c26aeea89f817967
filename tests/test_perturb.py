"""Test-time perturbations on real frames and clips: identity at 0, PSNR falling with severity, a real H.264
re-encode, and the preprocessing hook (perturbed crops, the same bytes on every run and worker count)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from data_modules.cache import FaceCache
from data_modules.perturb import (
    FRAME_KINDS,
    H264,
    KINDS,
    LEVELS,
    Perturbation,
    frame_rng,
    perturb_frame,
    probe_video,
    reencode_h264,
    require_encoder,
    x264_asm,
)
from data_modules.preprocess import process_video, sample_frames
from data_modules.preprocess.frames import VideoReadError
from data_modules.preprocess.perturbed import PerturbSettings, sample_perturbed
from data_modules.records import STATUS_OK, VideoRecord
from src.artifacts.faces import build_face_cache
from src.artifacts.store import ArtifactStore
from tests.face_media import astronaut, astronaut_frames, set_mp4_rotation, write_video
from tests.test_preprocess import FACE, data_cfg

SEVERE = range(1, 6)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def decode_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame 320x240 mpeg4 clip of a window moving over the astronaut's face."""
    return write_video(tmp_path_factory.mktemp("clip") / "astronaut.mp4", astronaut_frames(24))


@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_severity_zero_is_the_identity(kind):
    photo = astronaut()
    out = perturb_frame(photo, Perturbation(kind, 0), frame_rng(0, "v", 0))
    assert out.dtype == np.uint8 and out.tobytes() == photo.tobytes()


@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_psnr_falls_strictly_with_severity(kind):
    photo = astronaut()
    outs = [perturb_frame(photo, Perturbation(kind, s), frame_rng(0, "v", 0)) for s in SEVERE]
    assert all(o.shape == photo.shape and o.dtype == np.uint8 for o in outs)
    scores = [psnr(photo, o) for o in outs]
    assert all(np.isfinite(scores)) and all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert np.array_equal(photo, astronaut())  # the input frame is never written to


def test_noise_is_reproducible_per_seed_video_and_frame():
    photo, noise = astronaut(), Perturbation("noise", 3)
    first = perturb_frame(photo, noise, frame_rng(7, "ff/real/c23/000", 12))
    assert np.array_equal(first, perturb_frame(photo, noise, frame_rng(7, "ff/real/c23/000", 12)))
    for other in (frame_rng(8, "ff/real/c23/000", 12), frame_rng(7, "ff/real/c23/001", 12),
                  frame_rng(7, "ff/real/c23/000", 13)):
        assert np.mean(first != perturb_frame(photo, noise, other)) > 0.5
    std = np.std(first.astype(np.float32) - photo.astype(np.float32))
    assert abs(std - LEVELS["noise"][2]) < 1.5  # about the tabled 18 levels (clipping trims a little)


def test_parse_and_key_round_trip():
    p = Perturbation.parse("jpeg:3")
    assert p == Perturbation("jpeg", 3) == Perturbation.parse({"kind": "jpeg", "severity": 3})
    assert p.key == "jpeg-3" and Perturbation.parse(p.key) == p and p.parameter == 15
    assert Perturbation.parse(" h264:0 ").is_identity and Perturbation("h264", 0).parameter is None
    assert [Perturbation(H264, s).parameter for s in SEVERE] == [30, 32, 35, 38, 40]


@pytest.mark.parametrize(("value", "words"), [
    ("jpg:3", ["'jpg'", ", ".join(KINDS)]),
    ("blur:6", ["6", "'blur'", "0, 1, 2, 3, 4, 5"]),
    ("noise:-1", ["-1", "0, 1, 2, 3, 4, 5"]),
    ({"kind": "noise", "severity": 2.5}, ["2.5", "0, 1, 2, 3, 4, 5"]),
    ("noise:high", ["'high'", "0, 1, 2, 3, 4, 5"]),
    ("noise", ["kind:severity", ", ".join(KINDS)]),
    ({"kind": "blur"}, ["kind and severity"]),
    ({"kind": "sharpen", "severity": 1}, ["'sharpen'", ", ".join(KINDS)]),
])
def test_bad_perturbations_name_the_value_and_the_choices(value, words):
    with pytest.raises(ValueError) as err:
        Perturbation.parse(value)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_frame_kinds_refuse_h264_and_odd_input():
    with pytest.raises(ValueError, match="not a per-frame perturbation.*reencode_h264"):
        perturb_frame(astronaut(), Perturbation(H264, 2), frame_rng(0, "v", 0))
    with pytest.raises(ValueError, match=r"RGB uint8 \[H,W,3\].*float32 \[8, 8\]"):
        perturb_frame(np.zeros((8, 8), np.float32), Perturbation("blur", 2), frame_rng(0, "v", 0))


def check_h264_ladder(src: Path, out_dir: Path) -> None:
    """Increasing CRF: smaller files, lower bit rates, lower PSNR; real H.264 with the source's frames."""
    source, frames = probe_video(src), decode_all(src)
    infos = [reencode_h264(src, out_dir / f"crf{s}.mp4", int(Perturbation(H264, s).parameter)) for s in SEVERE]
    sizes, rates = [i.size_bytes for i in infos], [i.bit_rate for i in infos]
    assert all(a > b for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False)), rates
    assert sizes[0] < source.size_bytes and sizes == [i.path.stat().st_size for i in infos]
    scores = []
    for info in infos:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
            assert stream.average_rate == source.fps and container.bit_rate == info.bit_rate
        decoded = decode_all(info.path)
        assert len(decoded) == len(frames) == info.frames == source.frames
        assert decoded[0].shape == frames[0].shape
        scores.append(np.mean([psnr(a, b) for a, b in zip(frames, decoded, strict=True)]))
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)) and scores[-1] > 20, scores
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(i.path.name for i in infos)  # no temp files left


def test_h264_reencode_of_a_real_clip(clip, tmp_path):
    check_h264_ladder(clip, tmp_path)


@pytest.mark.media
def test_h264_reencode_of_a_grid_clip(shared_media, tmp_path):
    check_h264_ladder(shared_media / "grid" / "bbaf2n.mpg", tmp_path)


ZEN4_FLAGS = "fpu sse sse2 pni ssse3 fma sse4_1 sse4_2 avx abm bmi1 avx2 bmi2 avx512f avx512bw avx512vl"


@pytest.mark.parametrize(("cpuinfo", "asm"), [
    (f"processor\t: 0\nflags\t\t: {ZEN4_FLAGS}\nclflush size\t: 64\n",
     "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2,Cache64"),
    ("flags\t\t: fpu sse sse2 avx512f\n", "MMX2,SSE,SSE2"),
    ("flags\t\t: fpu sse sse2 pni ssse3 avx avx2\nclflush size\t: 64\n", None),  # x264 detects: no AVX-512
    ("Features\t: fp asimd evtstrm aes\n", None),  # arm64
    ("", None)])
def test_x264_asm_stops_short_of_avx512(cpuinfo, asm):
    assert x264_asm(cpuinfo) == asm


def test_h264_reencode_gives_the_same_bytes_every_run(clip, tmp_path):
    digests = {hashlib.sha256(reencode_h264(clip, tmp_path / f"{i}.mp4", 30).path.read_bytes()).hexdigest()
               for i in range(12)}
    assert len(digests) == 1


def test_h264_keeps_what_is_displayed(tmp_path):
    odd = write_video(tmp_path / "odd.mkv", [f[:241, :319] for f in astronaut_frames(5, 330, 250)], codec="ffv1",
                      pix_fmt="yuv444p")
    info = reencode_h264(odd, tmp_path / "odd.mp4", 30)
    assert (info.width, info.height, info.frames) == (318, 240, 5)  # odd sides lose their last column or row
    rotated = write_video(tmp_path / "rotated.mp4", astronaut_frames(4))
    set_mp4_rotation(rotated, 90)
    shown = sample_frames(rotated, 4)
    again = sample_frames(reencode_h264(rotated, tmp_path / "upright.mp4", 30).path, 4)
    assert [i for i, _ in again] == [i for i, _ in shown] and again[0][1].shape == shown[0][1].shape == (320, 240, 3)
    assert min(psnr(a, b) for (_, a), (_, b) in zip(shown, again, strict=True)) > 28


def test_h264_errors_are_clear(clip, tmp_path):
    with pytest.raises(ValueError, match=r"name the output \*\.mp4, got .*out\.mkv"):
        reencode_h264(clip, tmp_path / "out.mkv", 30)
    with pytest.raises(ValueError, match="0..51, got 60"):
        reencode_h264(clip, tmp_path / "out.mp4", 60)
    with pytest.raises(RuntimeError, match="no 'libx265-nonexistent' encoder"):
        require_encoder("libx265-nonexistent")
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0000.png"), astronaut())
    with pytest.raises(VideoReadError, match="needs a video file, not a frame folder"):
        sample_perturbed(folder, 2, "d/real/raw/frames", PerturbSettings(Perturbation(H264, 1)))
    assert not list(tmp_path.glob(".*"))


def record_of(path: Path, name: str = "clip") -> VideoRecord:
    return VideoRecord(video_id=f"t/real/raw/{name}", path=str(path), label=0, dataset="t", manipulation="real",
                       compression="raw", split="test")


def crops(cache_root: Path, video_id: str) -> list[bytes]:
    return [p.read_bytes() for p in FaceCache(cache_root).crop_paths(video_id)]


@pytest.mark.parametrize("perturbation", ["noise:3", "jpeg:4", "h264:3"])
def test_process_video_perturbs_before_detection_deterministically(perturbation, clip, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    record, face = record_of(clip), {**FACE, "perturbation": perturbation, "perturbation_seed": 3}
    data = {"name": "t", "adapter": "folder", "frames_per_video": 4}
    outcomes = [process_video(record, str(tmp_path / name), cfg, data)
                for name, cfg in (("clean", FACE), ("first", face), ("again", face))]
    assert [(o.status, o.num_frames) for o in outcomes] == [(STATUS_OK, 4)] * 3
    clean, first, again = (crops(tmp_path / n, record.video_id) for n in ("clean", "first", "again"))
    assert first == again and all(a != b for a, b in zip(clean, first, strict=True))
    assert not list((tmp_path / "tmp").iterdir())  # the re-encoded copy is gone
    identity = process_video(record, str(tmp_path / "zero"), {**face, "perturbation": perturbation[:-1] + "0"}, data)
    assert identity.num_frames == 4 and crops(tmp_path / "zero", record.video_id) == clean


def test_worker_count_and_cache_key(tmp_path):
    root = tmp_path / "data"
    for v in range(2):
        write_video(root / "real" / f"clip{v}.mp4", astronaut_frames(4 + 2 * v)[2 * v:])  # two distinct clips
    data, store = data_cfg(root, frames=4), ArtifactStore(tmp_path / "artifacts")
    noisy = {**FACE, "perturbation": "noise:2"}
    pooled = build_face_cache(ArtifactStore(tmp_path / "pooled"), data, {**noisy, "num_workers": 2})
    in_process = build_face_cache(store, data, noisy)
    clean = build_face_cache(store, data, FACE)
    assert pooled.summary.ok == in_process.summary.ok == clean.summary.ok == 2
    assert pooled.cache_dir.name == in_process.cache_dir.name != clean.cache_dir.name
    for row in FaceCache(in_process.cache_dir).read_index():
        assert crops(pooled.cache_dir, row.video_id) == crops(in_process.cache_dir, row.video_id)
    with pytest.raises(ValueError, match="'noise' is out of range"):
        build_face_cache(store, data, {**FACE, "perturbation": "noise:9"})
