"""Build (once) and cache the demo media as a folder-layout tree: real/<clip>.mp4,
fake/<method>/<clip>.mp4 and splits.json; manifest.json, written last, marks a finished build."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from data_modules.demo.motion import Drift, Lighting, Sensor, camera_path, warp_frame
from data_modules.demo.photos import Identity, load_identities
from data_modules.demo.swap import BLENDS, swap_face, triangulate, yaw_proxy
from data_modules.demo.video_io import write_video
from data_modules.io import atomic_write_json, stable_hash

log = logging.getLogger(__name__)

MANIFEST, BUILDING, SPLITS = "manifest.json", ".building.json", "splits.json"
FAKE_METHOD = "landmark_swap"
VERSION = 2  # bump when the rendering changes, so cached media is rebuilt


@dataclass(frozen=True)
class DemoOptions:
    """What the demo set holds; `data.options` of experiments/data/demo.yaml."""

    seed: int = 0
    max_identities: int | None = None
    frame_size: int = 256
    context: float = 2.2  # crop side / landmark-box side
    frames_per_clip: int = 16
    fps: int = 8
    crf: int = 20
    clips: dict[str, int] = field(default_factory=lambda: {"train": 3, "val": 1, "test": 2})
    fakes_per_identity: int = 2
    jitter_px: float = 1.0

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> DemoOptions:
        """Options from a config mapping, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown demo option(s) {unknown} in data.options; valid: {sorted(known)}")
        values = {k: (dict(v) if k == "clips" else v) for k, v in options.items()}
        return cls(**values)

    def key(self) -> str:
        """Hash of everything that shapes the media."""
        return stable_hash(asdict(self), VERSION)


@dataclass(frozen=True)
class ClipPlan:
    """One clip to render: its path under the root, split, identities and seed words."""

    relpath: str
    split: str
    target: int
    source: int | None  # identity index of the swapped-in face; None for a real clip
    seed: tuple[int, ...]
    blend: str = ""


def plan_clips(options: DemoOptions, identities: list[Identity]) -> list[ClipPlan]:
    """Real clips per identity and split, then fakes: each identity's face swapped from other identities,
    drawn among the half of them whose head turn is closest (a frontal face warped onto a turned one breaks)."""
    names, yaws = [i.name for i in identities], [yaw_proxy(i.landmarks) for i in identities]
    plans = []
    for t, name in enumerate(names):
        j = 0
        for split, count in options.clips.items():
            for _ in range(count):
                plans.append(ClipPlan(f"real/{name}_{j:02d}.mp4", split, t, None, (options.seed, t, j)))
                j += 1
    for t, name in enumerate(names):
        others = sorted((i for i in range(len(names)) if i != t), key=lambda i: (abs(yaws[i] - yaws[t]), i))
        count = min(options.fakes_per_identity, len(others))
        pool = others[: max(count, len(others) // 2)]
        rng = np.random.default_rng((options.seed, 10_000 + t))
        for m, s in enumerate(sorted(int(c) for c in rng.choice(pool, size=count, replace=False))):
            plans.append(ClipPlan(f"fake/{FAKE_METHOD}/{names[s]}_to_{name}.mp4", "test", t, s,
                                  (options.seed, t, 1_000 + m), BLENDS[(t + m) % len(BLENDS)]))
    return plans


def render_clip(plan: ClipPlan, identities: list[Identity], options: DemoOptions, drift: Drift
                ) -> Iterator[np.ndarray]:
    """Frames of one clip: the target identity under camera and lighting drift, face-swapped for fakes,
    then sensor noise and JPEG."""
    rng = np.random.default_rng(plan.seed)
    target = identities[plan.target]
    n, size = options.frames_per_clip, options.frame_size
    path, lighting = camera_path(rng, n, size, drift), Lighting.sample(rng, n, drift)
    camera = Sensor.sample(rng, (size, size), drift)
    source = identities[plan.source] if plan.source is not None else None
    triangles = triangulate(source.landmarks) if source is not None else None
    for i in range(n):
        frame, landmarks = warp_frame(target.image, target.landmarks, path[i])
        frame = lighting.apply(frame, i)
        if source is not None:
            frame = swap_face(frame, landmarks, source.image, source.landmarks, triangles, rng,
                              options.jitter_px, plan.blend)
        yield camera.apply(frame, rng)


def _check_root(root: Path, key: str) -> dict | None:
    """The finished manifest when it matches `key`; None when the build must (re)start; else a clear error."""
    for name in (MANIFEST, BUILDING):
        marker = root / name
        if marker.is_file():
            found = json.loads(marker.read_text()).get("key")
            if found != key:
                raise ValueError(f"{root} holds demo media built with other options (key {found}, wanted {key}); "
                                 f"delete it or point data.root elsewhere")
            return json.loads(marker.read_text()) if name == MANIFEST else None
    if root.is_dir() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty and holds no demo media ({MANIFEST}); point data.root at an empty "
                         f"or new folder")
    return None


def build_demo_media(root: Path | str, options: DemoOptions | None = None) -> dict[str, Any]:
    """Build the demo tree under root unless a finished build with the same options is there; returns the
    manifest (options, key, clips with split and label). An interrupted build resumes clip by clip."""
    root, options = Path(root), options or DemoOptions()
    key = options.key()
    manifest = _check_root(root, key)
    if manifest is not None:
        log.info("reusing demo media %s (%d clips)", root, len(manifest["clips"]))
        return manifest
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / BUILDING, {"key": key, "options": asdict(options)})
    identities = load_identities(options.frame_size, options.context)[: options.max_identities]
    plans = plan_clips(options, identities)
    drift = Drift()
    built = 0
    for plan in plans:
        out = root / plan.relpath
        if out.is_file():
            continue
        write_video(out, render_clip(plan, identities, options, drift), options.fps, options.crf)
        built += 1
    clips = [{"path": p.relpath, "split": p.split, "label": int(p.source is not None),
              "target": identities[p.target].name,
              "source": identities[p.source].name if p.source is not None else "", "blend": p.blend}
             for p in plans]
    atomic_write_json(root / SPLITS, {c["path"]: c["split"] for c in clips})
    manifest = {"key": key, "version": VERSION, "options": asdict(options),
                "identities": [ident.name for ident in identities], "clips": clips}
    atomic_write_json(root / MANIFEST, manifest)
    (root / BUILDING).unlink(missing_ok=True)
    log.info("built demo media %s: %d clips rendered, %d identities", root, built, len(identities))
    return manifest
