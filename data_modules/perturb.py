"""Test-time degradations at graded severities: per-frame corruptions and a real H.264 re-encode (libx264).

Severity 0 is the identity; 1..5 take the kind's parameter from the benchmarks named on the right:

    severity          1      2      3      4      5     follows
    jpeg   quality    25     18     15     10     7     ImageNet-C jpeg_compression
    blur   sigma      1.17   1.5    2.17   2.83   3.5   DeeperForensics GB: kernel 7 .. 21, sigma = kernel/6
    noise  std        8.06   11.40  18.03  25.50  57.02 DeeperForensics GNC: 255 * sqrt(variance .001 .. .05)
    downscale factor  2      3      4      5      6     DeeperForensics "JPEG" (really down- then up-scaling)
    contrast factor   .85    .725   .6     .475   .35   DeeperForensics CC: pixel values times the factor
    h264   CRF        30     32     35     38     40    DeeperForensics VC: ffmpeg -crf, libx264 preset medium

Departures: the noise is added per RGB channel (DeeperForensics adds it in YCbCr) and the downscale averages
pixels on the way down (INTER_AREA), as real rescalers low-pass. On a CPU with AVX-512 the encoder is held to
AVX2 code, whose bytes do not change from run to run. Hendrycks & Dietterich, ImageNet-C, ICLR 2019;
Jiang et al., DeeperForensics-1.0, CVPR 2020.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from data_modules.registry import Registry

H264 = "h264"
SEVERITIES = tuple(range(6))
ENCODER = "libx264"
PRESET = "medium"  # ffmpeg's default, as DeeperForensics' plain `ffmpeg -crf` used
CPUINFO = Path("/proc/cpuinfo")
# x264's name for each x86 feature up to AVX2, keyed by the /proc/cpuinfo flag that shows it
X264_FEATURES = {"sse": "MMX2,SSE", "sse2": "SSE2", "pni": "SSE3", "ssse3": "SSSE3", "sse4_1": "SSE4.1",
                 "sse4_2": "SSE4.2", "abm": "LZCNT", "avx": "AVX", "fma": "FMA3", "bmi1": "BMI1", "bmi2": "BMI2",
                 "avx2": "AVX2"}

LEVELS: dict[str, tuple[float, ...]] = {
    "jpeg": (25, 18, 15, 10, 7),
    "blur": tuple(k / 6 for k in (7, 9, 13, 17, 21)),
    "noise": tuple(255 * math.sqrt(v) for v in (0.001, 0.002, 0.005, 0.01, 0.05)),
    "downscale": (2, 3, 4, 5, 6),
    "contrast": (0.85, 0.725, 0.6, 0.475, 0.35),
    H264: (30, 32, 35, 38, 40),
}


def _choices(values: tuple) -> str:
    return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class Perturbation:
    """One degradation at one severity (0: the identity, 5: the worst); `key` names it in paths and tables."""

    kind: str
    severity: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation kind '{self.kind}'; valid choices: {_choices(KINDS)}")
        if type(self.severity) is not int or self.severity not in SEVERITIES:  # bool and float are not severities
            raise ValueError(f"perturbation severity {self.severity!r} of '{self.kind}' is out of range; "
                             f"valid choices: {_choices(SEVERITIES)}")

    @property
    def key(self) -> str:
        """Stable text such as `jpeg-3`; Perturbation.parse reads it back."""
        return f"{self.kind}-{self.severity}"

    @property
    def is_identity(self) -> bool:
        """Severity 0: frames and videos pass through untouched."""
        return self.severity == 0

    @property
    def parameter(self) -> float | None:
        """The kind's parameter at this severity (quality, sigma, std, factor or CRF); None at severity 0."""
        return None if self.is_identity else LEVELS[self.kind][self.severity - 1]

    @classmethod
    def parse(cls, value: str | Mapping | Perturbation) -> Perturbation:
        """From `kind:severity` (or the key `kind-severity`), a mapping {kind, severity}, or a Perturbation."""
        if isinstance(value, Perturbation):
            return value
        if isinstance(value, Mapping):
            if set(value) != {"kind", "severity"}:
                raise ValueError(f"perturbation {dict(value)} must have exactly the keys kind and severity")
            return cls(str(value["kind"]), _severity(value["severity"], value))
        text = str(value).strip()
        kind, sep, severity = text.replace(":", "-", 1).partition("-")
        if not sep:
            raise ValueError(f"perturbation '{text}' must read kind:severity, e.g. jpeg:3; valid kinds: "
                             f"{_choices(KINDS)}")
        return cls(kind, _severity(severity, text))


def _severity(value: object, source: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"perturbation severity {value!r} in {source!r} is not an integer; "
                     f"valid choices: {_choices(SEVERITIES)}")


def frame_rng(seed: int, video_id: str, frame_index: int) -> np.random.Generator:
    """The generator for one frame of one video: the same numbers whatever process or order draws them."""
    video = int.from_bytes(hashlib.sha256(video_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, video, frame_index])


FrameOp = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
FRAME_OPS: Registry[FrameOp] = Registry("per-frame perturbation")


@FRAME_OPS.register("jpeg")
def _jpeg(frame: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"JPEG encoding failed at quality {quality}")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@FRAME_OPS.register("blur")
def _blur(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    kernel = round(6 * sigma) | 1
    return cv2.GaussianBlur(frame, (kernel, kernel), sigma)


@FRAME_OPS.register("noise")
def _noise(frame: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    noisy = rng.standard_normal(frame.shape, dtype=np.float32)  # in place from here: the draw is the cost
    noisy *= std
    noisy += frame
    np.rint(noisy, out=noisy)
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)


@FRAME_OPS.register("downscale")
def _downscale(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, int(w // factor)), max(1, int(h // factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@FRAME_OPS.register("contrast")
def _contrast(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    return cv2.convertScaleAbs(frame, alpha=factor)  # round(x * factor), saturated to uint8


FRAME_KINDS = tuple(FRAME_OPS.names())
KINDS = (*FRAME_KINDS, H264)


def perturb_frame(frame: np.ndarray, perturbation: Perturbation, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 frame [H,W,3] degraded (same shape); at severity 0 the frame itself. `rng` feeds noise."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"perturb_frame needs an RGB uint8 [H,W,3] frame, got {frame.dtype} {list(frame.shape)}")
    if perturbation.kind not in FRAME_KINDS:
        raise ValueError(f"'{perturbation.kind}' is not a per-frame perturbation (valid: {_choices(FRAME_KINDS)}); "
                         "re-encode the video with reencode_h264")
    if perturbation.is_identity:
        return frame
    return FRAME_OPS.get(perturbation.kind)(np.ascontiguousarray(frame), perturbation.parameter, rng)


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its first video stream, frames counted by demuxing."""

    path: Path
    codec: str
    pix_fmt: str
    frames: int
    width: int
    height: int
    fps: Fraction
    size_bytes: int
    bit_rate: int  # bits per second, as the container reports it


def probe_video(path: Path) -> VideoInfo:
    """Codec, frame count, size, rate, file size and bit rate of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        return VideoInfo(Path(path), stream.codec_context.name, stream.codec_context.pix_fmt or "", frames,
                         stream.width, stream.height, Fraction(stream.average_rate or stream.guessed_rate or 0),
                         Path(path).stat().st_size, int(container.bit_rate or 0))


def require_encoder(name: str = ENCODER) -> None:
    """A clear error when this PyAV build has no such encoder (PyPI's av wheels bundle libx264)."""
    if name not in av.codecs_available:
        raise RuntimeError(f"PyAV {av.__version__} has no '{name}' encoder (not in av.codecs_available); "
                           "install the PyPI wheel (pip install --force-reinstall av) or a PyAV built with it")


def x264_asm(cpuinfo: str) -> str | None:
    """The x264 `asm` setting that stops short of AVX-512 on a CPU that has it, else None (x264 detects).

    x264's AVX-512 code gives different bytes on some runs of the same encode (about one in ten here), so the
    H.264 perturbation would not be reproducible; up to AVX2 every run gives the bytes of most AVX-512 runs."""
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                      if line.startswith("flags")), []))
    if "avx512f" not in flags:
        return None
    cache = ",Cache64" if "clflush size\t: 64" in cpuinfo else ""
    return ",".join(name for flag, name in X264_FEATURES.items() if flag in flags) + cache


@functools.cache
def host_x264_options() -> dict[str, str]:
    """Encoder options that make libx264 deterministic on this machine (see x264_asm)."""
    asm = x264_asm(CPUINFO.read_text()) if CPUINFO.is_file() else None
    return {"x264-params": f"asm={asm}"} if asm else {}


def _display_frames(container: av.container.InputContainer) -> Iterator[np.ndarray]:
    """Every decodable frame as displayed (container rotation applied); a damaged tail ends it, as in sampling."""
    try:
        for frame in container.decode(container.streams.video[0]):
            yield np.rot90(frame.to_ndarray(format="rgb24"), round(frame.rotation / 90) % 4)
    except (av.FFmpegError, ValueError):
        return


def _encode(src: Path, out: av.container.OutputContainer, crf: int, preset: str) -> None:
    """Every frame of `src` through libx264 into `out`, at the source's frame rate, sides cut to even."""
    with av.open(str(src)) as container:
        source = container.streams.video[0]
        rate = Fraction(source.average_rate or source.guessed_rate or 25)
        stream, height, width = None, 0, 0
        for index, rgb in enumerate(_display_frames(container)):
            if stream is None:
                height, width = rgb.shape[0] & ~1, rgb.shape[1] & ~1
                if not width or not height:
                    raise ValueError(f"{src} is {rgb.shape[1]}x{rgb.shape[0]}; H.264 needs at least 2x2")
                stream = out.add_stream(ENCODER, rate=rate, options={"crf": str(crf), "preset": preset,
                                                                     "threads": "1", **host_x264_options()})
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
    if stream is None:
        raise ValueError(f"no decodable frames in {src}")
    out.mux(stream.encode())


def reencode_h264(src: Path, dst: Path, crf: int, preset: str = PRESET) -> VideoInfo:
    """Re-encode a whole video as H.264 (libx264, yuv420p, constant frame rate) into an .mp4, atomically.

    Frame count and rate are kept; an odd width or height loses its last column or row (yuv420p needs even
    sides). One encoder thread, so the bytes do not depend on the machine's core count."""
    require_encoder()
    dst = Path(dst)
    if dst.suffix.lower() != ".mp4":
        raise ValueError(f"reencode_h264 writes mp4; name the output *.mp4, got {dst}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ValueError(f"H.264 CRF must be an integer in 0..51, got {crf!r}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp.mp4")
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4") as out:
            _encode(Path(src), out, crf, preset)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return probe_video(dst)
