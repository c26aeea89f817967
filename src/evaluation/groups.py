"""Evaluation groups: each dataset as a whole, and per manipulation and compression against matching reals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What grouping needs to know about one test video."""

    video_id: str
    label: int
    dataset: str
    manipulation: str
    compression: str


def evaluation_groups(videos: Sequence[VideoInfo]) -> dict[str, np.ndarray]:
    """Group name -> boolean mask over `videos`.

    `<dataset>`: every video of the dataset. `<dataset>/<manipulation>/<compression>`: that manipulation's
    fakes against the reals of the same dataset and compression (only fakes are split by manipulation).
    """
    groups: dict[str, np.ndarray] = {}
    ds = np.asarray([v.dataset for v in videos])
    comp = np.asarray([v.compression for v in videos])
    manip = np.asarray([v.manipulation for v in videos])
    label = np.asarray([v.label for v in videos])
    for d in sorted(set(ds.tolist())):
        groups[d] = ds == d
        fakes = sorted({(str(m), str(c)) for m, c, dd, y in zip(manip, comp, ds, label, strict=True)
                        if dd == d and y == 1})
        for m, c in fakes:
            reals = (ds == d) & (comp == c) & (label == 0)
            groups[f"{d}/{m}/{c}"] = reals | ((ds == d) & (comp == c) & (manip == m) & (label == 1))
    return groups
