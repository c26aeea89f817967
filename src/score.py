"""Score suspect videos with a finished run or a bundle: one JSON per video (every scorer's score, a decision
at a threshold calibrated on validation reals for the chosen FPR, frames used and skipped), optional timeline
and saliency PNGs. An image file is a still image (classifier and saliency only).

    python -m src.score video=<file or folder> run=<run dir> [fpr=0.05] [timeline=true] [out=<dir>] [frames=N]
    python -m src.score video=<file or folder> bundle=<bundle dir> [backend=onnx|torch] [saliency=true] ...
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_modules.cli import UsageError, parse_args, run_main
from data_modules.io import atomic_write_json
from data_modules.sources.common import find_media
from src.api import Detector, VideoResult
from src.bundle.load import BACKENDS
from src.evaluation.plots import plot_image_grid
from src.utils.logging import get_logger
from src.validation import OPEN_FRACTION, OPTIONAL_COUNT, check_arg

log = get_logger(__name__)

USAGE = ("usage: python -m src.score video=<file or folder> run=<run dir> | bundle=<bundle dir> [backend=onnx|torch] "
         "[fpr=0.05] [timeline=true] [saliency=true] [out=<dir>] [frames=N]")
MAX_STATUS = 100  # exit statuses stop at 255; past 100 failed videos the count is in the message
BUNDLE_SCORES = Path("scores")  # default out= for a bundle: a bundle folder holds only its manifest's files


@dataclass(frozen=True)
class ScoreArgs:
    """Command-line arguments of src.score: exactly one of `run` and `bundle`."""

    video: Path
    run: Path | None = None
    fpr: float = 0.05
    timeline: bool = False
    out: Path | None = None
    frames: int | None = None
    bundle: Path | None = None
    backend: str | None = None
    saliency: bool = False

    def __post_init__(self) -> None:
        if self.run is None and self.bundle is None:
            raise UsageError(f"missing run=<run dir> or bundle=<bundle dir> ({USAGE})")
        if self.run is not None and self.bundle is not None:
            raise UsageError(f"pass run= or bundle=, not both ({USAGE})")
        check_arg("fpr", self.fpr, OPEN_FRACTION)
        check_arg("frames", self.frames, OPTIONAL_COUNT)
        if self.backend is not None and self.backend not in BACKENDS:
            raise UsageError(f"backend={self.backend}: expected {' or '.join(BACKENDS.names())}")
        if self.run is not None and self.backend not in (None, "torch"):
            raise UsageError(f"backend={self.backend} needs a bundle: export the run first with "
                             f"python -m src.export run={self.run} out=<bundle dir>")

    def detector(self) -> Detector:
        """The run's or the bundle's detector (a bundle on ONNX Runtime unless backend=torch)."""
        if self.bundle is not None:
            return Detector.load(self.bundle, self.backend or "onnx")
        return Detector.from_run(self.run)

    @property
    def out_dir(self) -> Path:
        """Where the JSON and PNG files go."""
        return self.out or (self.run / "scores" if self.run is not None else BUNDLE_SCORES)


def plot_timeline(result: dict[str, Any], path: Path) -> None:
    """Per-frame classifier probability and per-pair head scores over the frame index, with thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline, decisions = result["timeline"], result["decisions"]
    series = [("classifier", timeline["frame_indices"], timeline["frame_probs"])]
    for head, scores in timeline["pair_scores"].items():
        series.append((head, [max(a, b) for a, b in timeline["pairs"]], scores))
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.2 * len(series)), sharex=True, squeeze=False)
    for ax, (name, x, y) in zip(axes[:, 0], series, strict=True):
        order = np.argsort(x, kind="stable")
        ax.plot(np.asarray(x)[order], np.asarray(y)[order], "o-", ms=3, lw=1)
        if name in decisions:
            ax.axhline(decisions[name]["threshold"], color="r", ls="--", lw=1, label=f"threshold @ FPR {result['fpr']}")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("frame index (pairs at their later frame)")
    fig.suptitle(Path(result["video"]).name, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_saliency(result: VideoResult, path: Path) -> None:
    """Contact sheet of the saliency maps over their face crops, most suspicious frames, in frame order."""
    plot_image_grid(path, [m.overlay() for m in result.saliency],
                    [f"frame {m.frame}: P(fake) {m.probability:.2f}" for m in result.saliency],
                    f"{Path(result.video).name}: Grad-CAM++ of the classifier's P(fake)")


def result_name(media: Path) -> str:
    """The file-name base of a video's results: its whole name, so x.mp4 and x.avi never share x.json."""
    return media.name


def failed_result(video: Path, args: ScoreArgs, err: Exception) -> dict[str, Any]:
    """The JSON of a video that could not be scored: no scores, and why."""
    return {"video": str(video), "run": str(args.run or args.bundle), "fpr": args.fpr, "frames_sampled": 0,
            "frames_used": 0, "frames_skipped": [], "scores": {}, "decisions": {}, "failed": True,
            "reason": f"{type(err).__name__}: {err}"}


def score_one(detector: Detector, video: Path, args: ScoreArgs) -> dict[str, Any]:
    """Score one video; write <out>/<name>.json and its PNG files."""
    out_dir, name = args.out_dir, result_name(video)
    scored = detector.score_file(video, args.fpr, args.frames, args.saliency)
    result = scored.to_json()
    atomic_write_json(out_dir / f"{name}.json", result)
    if args.timeline and result.get("timeline"):
        plot_timeline(result, out_dir / f"{name}.timeline.png")
    if scored.saliency:
        plot_saliency(scored, out_dir / f"{name}.saliency.png")
    return result


def score_videos(args: ScoreArgs) -> list[dict[str, Any]]:
    """Score every video (or image) under args.video, each on its own: one that fails gets a JSON with
    `failed: true` and a `reason`, and the rest go on."""
    videos = find_media(args.video)
    detector = args.detector()
    detector.thresholds(args.fpr)  # a bad fpr fails before any work
    results = []
    for video in videos:
        try:
            result = score_one(detector, video, args)
        except Exception as err:  # one bad file must not stop a folder; its JSON says why
            log.warning("%s: could not score (%s: %s)", video, type(err).__name__, err)
            result = failed_result(video, args, err)
            atomic_write_json(args.out_dir / f"{result_name(video)}.json", result)
        else:
            verdict = ", ".join(f"{k}={v:.3f}" for k, v in result["scores"].items() if v is not None)
            log.info("%s: %d frames used, %d skipped; %s", video.name, result["frames_used"],
                     len(result["frames_skipped"]), verdict or result["reason"])
        results.append(result)
    return results


def score(argv: list[str]) -> int:
    """Parse `key=value` arguments and score; the exit status is the number of videos that failed (at most 100)."""
    results = score_videos(parse_args(ScoreArgs, argv, USAGE))
    failed = [r for r in results if r.get("failed")]
    if failed:
        sys.stderr.write(f"error: {len(failed)} of {len(results)} videos could not be scored (their JSON says why): "
                         + "; ".join(f"{Path(r['video']).name}: {r['reason']}" for r in failed) + "\n")
    return min(len(failed), MAX_STATUS)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`difffake-score`)."""
    run_main(score, USAGE, argv)


if __name__ == "__main__":
    main()
