"""The iBUG 68-point layout: named landmark groups and the permutation that mirrors them."""

from __future__ import annotations

import numpy as np

JAW = np.arange(0, 17)
RIGHT_BROW = np.arange(17, 22)  # the subject's right, image left
LEFT_BROW = np.arange(22, 27)
BROWS = np.arange(17, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE = np.arange(27, 36)
NOSE_TIP = 30
RIGHT_EYE = np.arange(36, 42)
LEFT_EYE = np.arange(42, 48)
EYES = np.arange(36, 48)
MOUTH = np.arange(48, 68)


def _mirror_permutation() -> np.ndarray:
    """Index map p such that flipped[i] = landmarks[p[i]] after a horizontal flip."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]  # mouth
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


MIRROR = _mirror_permutation()


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image (pixel-centre convention), with left/right swapped."""
    flipped = landmarks[MIRROR].copy()
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    return flipped
