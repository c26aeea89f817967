"""PseudoFake: one generated sample, whichever recipe made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PseudoFake:
    """One generated sample; `fake` equals `real` wherever `mask` is 0."""

    real: np.ndarray  # uint8 [S,S,3]
    fake: np.ndarray  # uint8 [S,S,3]
    mask: np.ndarray  # float32 [S,S] in [0,1], already scaled by the blend ratio
    mask_type: str  # global_<variant> | eyes | mouth | lower_face
    params: dict[str, Any]  # every drawn value
    landmarks: np.ndarray  # float32 [68,2] in output pixels (after crop and flip)
