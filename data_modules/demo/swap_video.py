"""The demo's face-swap tool on any video: swap one face into a video, or turn a folder of real videos into a
folder-layout dataset (real/ + fake/landmark_swap/) for `experiment=folder`.

    python -m data_modules.demo.swap_video target=a.mp4 source=b.mp4 out=fake.mp4 [seed=0] [blend=poisson]
    python -m data_modules.demo.swap_video reals=../shared/media/grid out=/tmp/grid_folder [seed=0]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_modules.cli import UsageError, parse_args, run_main
from data_modules.demo.landmarks import largest_face
from data_modules.demo.swap import BLENDS, swap_face, triangulate
from data_modules.demo.video_io import read_frames, write_video
from data_modules.io import atomic_write_json
from data_modules.sources.common import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)


def source_face(path: Path, max_frames: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The first frame of a video (or an image) with a detectable face, and that face's landmarks."""
    frames, _ = read_frames(path, max_frames)
    for frame in frames:
        landmarks = largest_face(frame)
        if landmarks is not None:
            return frame, landmarks
    raise ValueError(f"no face found in the first {max_frames} frames of {path}; pick another source")


def swap_video(target: Path, source: Path, out: Path, seed: int, blend: str = "poisson", jitter_px: float = 1.0,
               max_frames: int | None = None) -> dict[str, int]:
    """Write `out`: every frame of `target` with the face of `source` swapped in; frames without a detected
    face are kept unchanged and counted as skipped."""
    rng = np.random.default_rng(seed)
    src_image, src_lms = source_face(source)
    triangles = triangulate(src_lms)
    frames, fps = read_frames(target, max_frames)
    swapped, skipped = [], 0
    for frame in frames:
        landmarks = largest_face(frame)
        if landmarks is None:
            skipped += 1
            swapped.append(frame)
            continue
        swapped.append(swap_face(frame, landmarks, src_image, src_lms, triangles, rng, jitter_px, blend))
    even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in swapped]
    write_video(out, even, fps=round(fps))
    if skipped:
        log.warning("%s: %d of %d frames had no face and were left unchanged", target, skipped, len(frames))
    return {"frames": len(frames), "skipped": skipped}


def make_folder_dataset(reals: Path, out: Path, seed: int = 0, fakes_per_video: int = 1) -> dict[str, int]:
    """out/real/ links every video of `reals`; out/fake/landmark_swap/<src>_to_<tgt>.mp4 swaps another video's
    face onto each one. Existing fakes are kept (rerun to resume)."""
    videos = sorted(p for p in Path(reals).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if len(videos) < 2:
        raise ValueError(f"{reals} needs at least two videos to swap faces between; found {len(videos)}")
    (out / "real").mkdir(parents=True, exist_ok=True)
    for video in videos:
        link = out / "real" / video.name
        if not link.exists():
            os.symlink(video.resolve(), link)
    rng = np.random.default_rng(seed)
    made, skipped = 0, 0
    for t, target in enumerate(videos):
        others = [v for v in videos if v != target]
        for m, source in enumerate(rng.choice(others, size=min(fakes_per_video, len(others)), replace=False)):
            fake = out / "fake" / "landmark_swap" / f"{source.stem}_to_{target.stem}.mp4"
            if fake.exists():
                continue
            counts = swap_video(target, source, fake, seed=int(rng.integers(2**31)), blend=BLENDS[(t + m) % 2])
            made, skipped = made + 1, skipped + counts["skipped"]
    summary = {"reals": len(videos), "fakes_made": made, "frames_without_face": skipped}
    atomic_write_json(out / "swap_summary.json", summary)
    log.info("folder dataset %s: %s", out, summary)
    return summary


USAGE = ("usage: python -m data_modules.demo.swap_video out=<video or folder> (target=<video> source=<video or "
         "image> | reals=<folder>) [seed=0] [blend=poisson|color] [fakes_per_video=1]")


@dataclass(frozen=True)
class SwapArgs:
    """One swap (target + source) or a whole folder dataset (reals)."""

    out: Path
    target: Path | None = None
    source: Path | None = None
    reals: Path | None = None
    seed: int = 0
    blend: str = "poisson"
    fakes_per_video: int = 1


def swap(argv: list[str]) -> int:
    """Run one swap or build a folder dataset from `key=value` arguments."""
    args = parse_args(SwapArgs, argv, USAGE)
    if args.blend not in BLENDS:
        raise UsageError(f"blend={args.blend}: valid choices: {', '.join(BLENDS)}")
    if args.reals is not None:
        make_folder_dataset(args.reals, args.out, args.seed, args.fakes_per_video)
    elif args.target is not None and args.source is not None:
        log.info("%s", swap_video(args.target, args.source, args.out, args.seed, args.blend))
    else:
        raise UsageError(f"give reals=<folder>, or both target= and source= ({USAGE})")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    run_main(swap, USAGE, argv)


if __name__ == "__main__":
    main()
