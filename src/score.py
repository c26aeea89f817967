"""Score suspect videos with a finished run: one JSON per video (every scorer's score, a decision at a
threshold calibrated on validation reals for the chosen FPR, frames used and skipped), optional timeline PNG.

    python -m src.score video=<file or folder> run=<run dir> [fpr=0.05] [timeline=true] [out=<dir>] [frames=N]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from data_modules.blending import crop_face
from data_modules.io import atomic_write_json
from data_modules.preprocess import build_detector, extract_track, sample_frames
from data_modules.sources.common import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from src.evaluation.run_scorer import RunScorer
from src.models.extractor import FeatureExtractor, load_extractor
from src.stages.embed import FrameEmbedder
from src.stages.keys import extractor_key
from src.utils.artifacts import ArtifactStore
from src.utils.logging import get_logger

log = get_logger(__name__)

USAGE = "usage: python -m src.score video=<file or folder> run=<run dir> [fpr=0.05] [timeline=true] [out=<dir>]"


@dataclass(frozen=True)
class ScoreArgs:
    """Command-line arguments of src.score."""

    video: Path
    run: Path
    fpr: float = 0.05
    timeline: bool = False
    out: Path | None = None
    frames: int | None = None

    @classmethod
    def parse(cls, argv: list[str]) -> ScoreArgs:
        """`key=value` arguments, with a one-line error naming a bad or missing one."""
        values: dict[str, str] = {}
        for arg in argv:
            key, sep, value = arg.partition("=")
            if not sep or key not in cls.__dataclass_fields__:
                raise ValueError(f"unknown argument '{arg}'; {USAGE}")
            values[key] = value
        missing = [k for k in ("video", "run") if k not in values]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}; {USAGE}")
        return cls(video=Path(values["video"]), run=Path(values["run"]), fpr=float(values.get("fpr", 0.05)),
                   timeline=values.get("timeline", "false").lower() in ("1", "true", "yes"),
                   out=Path(values["out"]) if "out" in values else None,
                   frames=int(values["frames"]) if "frames" in values else None)


def find_videos(path: Path) -> list[Path]:
    """The video file itself, a frame folder, or every video / frame folder directly inside a folder."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"video path {path} does not exist")
    if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir() if p.is_file()):
        return [path]
    found = sorted(p for p in path.iterdir() if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
                   or (p.is_dir() and any(q.suffix.lower() in IMAGE_EXTENSIONS for q in p.iterdir())))
    if not found:
        raise FileNotFoundError(f"no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or frame folders in {path}")
    return found


class VideoScorer:
    """Everything a finished run needs to score a new video: detector, extractor, heads and calibration."""

    def __init__(self, run_dir: Path) -> None:
        config = run_dir / "config.yaml"
        if not config.is_file():
            raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml); pass run=<outputs/.../runs/..>")
        self.run_dir, self.cfg = run_dir, OmegaConf.load(config)
        store = ArtifactStore(self.cfg.paths.artifact_dir)
        self.model: FeatureExtractor = load_extractor(store.require("extractor", extractor_key(self.cfg),
                                                                    made_by="train_extractor"))
        self.scorer = RunScorer.from_run_dir(run_dir)
        if self.scorer.calibration is None:
            raise FileNotFoundError(f"{run_dir} has no calibration.json: run the fit_head stage into this run dir")
        self.detector = build_detector(self.cfg.face)
        self.embedder = FrameEmbedder(self.model, batch_size=64)

    def thresholds(self, fpr: float) -> dict[str, float]:
        """Per-scorer thresholds set on validation reals at `fpr` (one of the calibrated targets)."""
        out = {}
        for name, entry in self.scorer.calibration["scorers"].items():
            table = {float(k): v for k, v in entry.get("thresholds", {}).items()}
            if fpr not in table:
                raise ValueError(f"fpr={fpr} was not calibrated in {self.run_dir}; choose one of "
                                 f"{sorted(table)} (eval.fpr_targets of the run)")
            out[name] = float(table[fpr])
        return out

    def embed(self, crops: list[np.ndarray], landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits [T] and embeddings [T,D] of face crops, through the same inference crop as the embed stage."""
        images = [crop_face(c, lm, self.embedder.size)[0] for c, lm in zip(crops, landmarks, strict=True)]
        embeddings, logits = self.embedder(images)
        return logits, embeddings

    def score(self, video: Path, fpr: float, frames: int | None = None) -> dict[str, Any]:
        """The JSON-ready result of one video."""
        sampled = sample_frames(video, frames or int(self.cfg.data.frames_per_video))
        track = extract_track(sampled, self.detector, self.cfg.face)
        skipped = [{"frame": int(i), "reason": r} for i, r in track.skipped]
        result: dict[str, Any] = {"video": str(video), "run": str(self.run_dir), "fpr": fpr,
                                  "frames_sampled": len(sampled), "frames_used": len(track.crops),
                                  "frames_skipped": skipped}
        if not track.crops:
            result.update(scores={}, decisions={}, reason="no face found in any sampled frame")
            return result
        logits, embeddings = self.embed(track.crops, track.landmarks)
        scored = self.scorer.score_video(embeddings, logits, track.frame_indices, video_id=video.stem)
        thresholds = self.thresholds(fpr)
        result.update(
            scores=scored["scores"],
            decisions={name: {"fake": bool(value > thresholds[name]), "threshold": thresholds[name]}
                       for name, value in scored["scores"].items() if value is not None and name in thresholds},
            reason=scored["reason"],
            timeline={"frame_indices": scored["frame_indices"], "frame_probs": scored["frame_probs"],
                      "pairs": scored["pairs"], "pair_scores": scored["pair_scores"]},
        )
        return result


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


def score_videos(args: ScoreArgs) -> list[dict[str, Any]]:
    """Score every video under args.video; write <out>/<name>.json (and .png) per video."""
    videos = find_videos(args.video)
    scorer = VideoScorer(args.run)
    scorer.thresholds(args.fpr)  # a bad fpr fails before any work
    out_dir = args.out or args.run / "scores"
    results = []
    for video in videos:
        result = scorer.score(video, args.fpr, args.frames)
        atomic_write_json(out_dir / f"{video.stem}.json", result)
        if args.timeline and result.get("timeline"):
            plot_timeline(result, out_dir / f"{video.stem}_timeline.png")
        verdict = ", ".join(f"{k}={v:.3f}" for k, v in result["scores"].items() if v is not None)
        log.info("%s: %d frames used, %d skipped; %s", video.name, result["frames_used"],
                 len(result["frames_skipped"]), verdict or result["reason"])
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    """Command line entry; argument errors exit 2 with one line."""
    try:
        args = ScoreArgs.parse(list(sys.argv[1:] if argv is None else argv))
    except ValueError as err:
        log.error("%s", err)
        sys.exit(2)
    score_videos(args)


if __name__ == "__main__":
    main()
