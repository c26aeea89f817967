"""Natural clip variation for a still face: smooth pose/scale/translation drift (a homography per frame),
lighting drift, sensor noise and JPEG compression. Every function takes an explicit generator."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Drift:
    """Amplitudes of the smooth per-clip drifts."""

    rotate_deg: float = 4.0
    scale: float = 0.06
    translate: float = 0.03  # fraction of the frame side
    perspective: float = 0.02  # corner displacement, fraction of the side (small out-of-plane turns)
    gain: float = 0.12
    gamma: float = 0.10
    noise_sigma: tuple[float, float] = (1.5, 4.0)
    jpeg_quality: tuple[int, int] = (70, 95)


def _smooth(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A smooth random trajectory of n steps: two sinusoids with random phase and frequency, within +-amplitude."""
    t = np.linspace(0.0, 1.0, n)
    out = np.zeros(n)
    for weight in (0.7, 0.3):
        freq, phase = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
        out += weight * np.sin(2 * np.pi * freq * t + phase)
    return amplitude * out


def camera_path(rng: np.random.Generator, n: int, size: int, drift: Drift) -> list[np.ndarray]:
    """n homographies (3x3, float64) about the frame centre: rotation, scale, translation, perspective."""
    angle, scale = _smooth(rng, n, drift.rotate_deg), 1.0 + _smooth(rng, n, drift.scale)
    tx, ty = (_smooth(rng, n, drift.translate * size) for _ in range(2))
    corners = np.float32([[0, 0], [size, 0], [size, size], [0, size]])
    corner_paths = [[_smooth(rng, n, drift.perspective * size) for _ in range(2)] for _ in range(4)]
    homographies = []
    for i in range(n):
        similarity = np.eye(3)
        similarity[:2] = cv2.getRotationMatrix2D((size / 2, size / 2), float(angle[i]), float(scale[i]))
        similarity[:2, 2] += (tx[i], ty[i])
        moved = corners + np.float32([[path[0][i], path[1][i]] for path in corner_paths])
        perspective = cv2.getPerspectiveTransform(corners, moved)
        homographies.append(perspective @ similarity)
    return homographies


def warp_frame(image: np.ndarray, landmarks: np.ndarray, homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image seen through the homography (edges reflected) and its moved landmarks."""
    h, w = image.shape[:2]
    frame = cv2.warpPerspective(image, homography, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    moved = cv2.perspectiveTransform(landmarks.reshape(-1, 1, 2).astype(np.float64), homography).reshape(-1, 2)
    return frame, moved.astype(np.float32)


@dataclass(frozen=True)
class Lighting:
    """Per-frame gain, gamma and colour-temperature trajectories of one clip."""

    gain: np.ndarray
    gamma: np.ndarray
    tint: np.ndarray  # [n,3] per-channel multipliers

    @classmethod
    def sample(cls, rng: np.random.Generator, n: int, drift: Drift) -> Lighting:
        """Smooth lighting drift around a random per-clip operating point."""
        gain = rng.uniform(1 - drift.gain, 1 + drift.gain) + _smooth(rng, n, drift.gain / 2)
        gamma = rng.uniform(1 - drift.gamma, 1 + drift.gamma) + _smooth(rng, n, drift.gamma / 2)
        tint = 1.0 + np.stack([_smooth(rng, n, 0.04) for _ in range(3)], axis=1)
        return cls(gain=gain, gamma=gamma, tint=tint)

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        """Frame i under this clip's lighting (one lookup table per channel)."""
        levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
        curves = np.power(np.clip(levels * self.gain[i] * self.tint[i][None, :], 0, 1), self.gamma[i])
        lut = (curves * 255.0 + 0.5).astype(np.uint8).reshape(256, 1, 3)
        return cv2.LUT(frame, lut)


@dataclass(frozen=True)
class Sensor:
    """One clip's sensor: a bank of Gaussian noise (a random window of it per frame) and a JPEG quality."""

    noise: np.ndarray  # float32 [2H,2W,3], unit variance
    sigma: float
    jpeg_quality: int

    @classmethod
    def sample(cls, rng: np.random.Generator, shape: tuple[int, int], drift: Drift) -> Sensor:
        """Noise level and JPEG quality drawn for one clip."""
        noise = rng.standard_normal((2 * shape[0], 2 * shape[1], 3), dtype=np.float32)
        quality = int(rng.integers(drift.jpeg_quality[0], drift.jpeg_quality[1] + 1))
        return cls(noise=noise, sigma=float(rng.uniform(*drift.noise_sigma)), jpeg_quality=quality)

    def apply(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Frame plus noise, then a JPEG round trip."""
        h, w = frame.shape[:2]
        y, x = (int(v) for v in rng.integers(0, (self.noise.shape[0] - h, self.noise.shape[1] - w)))
        noise = self.noise[y:y + h, x:x + w] * np.float32(self.sigma)
        noisy = np.clip(frame + noise + np.float32(0.5), 0, 255).astype(np.uint8)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise OSError("JPEG encoding failed while building the demo clips")
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
