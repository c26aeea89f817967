"""The differential detector of a run: pairs -> operator -> every head, the classifier, fusion, decisions.

A run directory holds its detector: scorer.json (ScorerSettings), heads/<name>/ and calibration.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_modules.io import atomic_write_json, read_json, reading
from data_modules.registry import Registry
from src.models.differential.calibration import CLASSIFIER, Calibration, VideoScores, calibrate, fusion_name
from src.models.differential.heads import Head, build_head, load_head
from src.models.differential.pairs import (
    OperatorSettings,
    PairSettings,
    VideoEmbeddings,
    build_pairs,
    pair_features,
)
from src.utils.logging import get_logger

log = get_logger(__name__)

SETTINGS_FILE, CALIBRATION_FILE, HEADS_DIR = "scorer.json", "calibration.json", "heads"

AGGREGATIONS: Registry[Callable[[np.ndarray, int], float]] = Registry("eval.aggregate")
AGGREGATIONS.add("mean", lambda s, k: float(s.mean()))
AGGREGATIONS.add("max", lambda s, k: float(s.max()))
AGGREGATIONS.add("topk", lambda s, k: float(np.sort(s)[-max(1, int(k)):].mean()))


def aggregate(scores: np.ndarray, how: str = "mean", topk: int = 3) -> float:
    """One video score from its pair or frame scores: mean, max, or the mean of the top k."""
    reduce = AGGREGATIONS.get(how)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("cannot aggregate an empty score list")
    return reduce(scores, topk)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """P(fake) from classifier logits."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class ScorerSettings:
    """How videos are scored: pairing, operator, seed, aggregation, calibration targets, fusion, heads."""

    pairs: PairSettings
    operator: OperatorSettings
    heads: tuple[str, ...]
    embed_dim: int
    seed: int = 0
    aggregate: str = "mean"
    topk: int = 3
    min_frames: int = 2
    fpr_targets: tuple[float, ...] = (0.01, 0.05)
    fusion: bool = True
    fusion_weights: tuple[float, ...] = tuple(w / 10 for w in range(11))

    @property
    def primary(self) -> str:
        """The configured head (the others are compared beside it)."""
        return self.heads[0]

    @property
    def scorer_names(self) -> list[str]:
        """Every head, the classifier, then each head's fusion with the classifier when fusion is on."""
        return [*self.heads, CLASSIFIER, *([fusion_name(h) for h in self.heads] if self.fusion else [])]

    @classmethod
    def from_config(cls, cfg: Any, heads: Sequence[str], embed_dim: int) -> ScorerSettings:
        """From the composed run config (pairs, pair_op, seed, eval) and the fitted heads' names."""
        ev = cfg.eval
        return cls(pairs=PairSettings.from_config(cfg.pairs), operator=OperatorSettings.from_config(cfg.pair_op),
                   heads=tuple(heads), embed_dim=int(embed_dim), seed=int(cfg.seed), aggregate=str(ev.aggregate),
                   topk=int(ev.topk), min_frames=int(ev.min_frames), fpr_targets=tuple(float(t) for t in ev.fpr_targets),
                   fusion=bool(ev.fusion.enabled), fusion_weights=tuple(float(w) for w in ev.fusion.weights))

    def to_json(self) -> dict[str, Any]:
        """scorer.json content."""
        out = asdict(self)
        out["pair_op"] = out.pop("operator")
        return {**out, "primary": self.primary}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScorerSettings:
        """Inverse of `to_json`."""
        return cls(pairs=PairSettings.from_config(data["pairs"]), operator=OperatorSettings.from_config(data["pair_op"]),
                   heads=tuple(data["heads"]), embed_dim=int(data["embed_dim"]), seed=int(data["seed"]),
                   aggregate=str(data["aggregate"]), topk=int(data.get("topk", 3)), min_frames=int(data["min_frames"]),
                   fpr_targets=tuple(float(t) for t in data["fpr_targets"]), fusion=bool(data.get("fusion", True)),
                   fusion_weights=tuple(float(w) for w in data["fusion_weights"]))


@dataclass
class VideoScore:
    """One video scored: per-frame classifier probabilities, per-pair head scores, a video score per scorer
    (None where it could not score, with `reason`), and decisions at each calibrated FPR."""

    video_id: str
    num_frames: int
    frame_indices: list[int]
    frame_probs: list[float]
    pairs: list[list[int]]
    pair_scores: dict[str, list[float]]
    scores: dict[str, float | None]
    reason: str = ""
    decisions: dict[str, dict[str, bool]] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """True when the differential heads could score the video."""
        return not self.reason


@dataclass(frozen=True)
class FitReport:
    """What fitting the heads used: training videos and pairs, seconds per head."""

    train_videos: int
    train_pairs: int
    fit_seconds: dict[str, float]


class DifferentialDetector:
    """Fitted heads + scoring settings + (once calibrated) the validation calibration."""

    def __init__(self, heads: dict[str, Head], settings: ScorerSettings, calibration: Calibration | None = None):
        self.heads, self.settings, self.calibration = heads, settings, calibration

    @property
    def scorer_names(self) -> list[str]:
        """Every scorer this detector reports."""
        return self.settings.scorer_names

    @classmethod
    def fit(cls, head_cfgs: Sequence[Mapping[str, Any]], settings: ScorerSettings,
            videos: Sequence[VideoEmbeddings]) -> tuple[DifferentialDetector, FitReport]:
        """Fit every head (the first is the primary) on the pairs of these real videos."""
        pairs = build_pairs(videos, settings.pairs, settings.operator, settings.seed)
        log.info("fitting heads on %d pairs from %d real videos (%s, op %s)", len(pairs.features), len(videos),
                 settings.pairs.strategy, settings.operator.name)
        heads, seconds = {}, {}
        for head_cfg in head_cfgs:
            start = time.perf_counter()
            head = build_head(head_cfg, settings.seed).fit(pairs.features)
            heads[head.name] = head
            seconds[head.name] = round(time.perf_counter() - start, 3)
            log.info("%s fitted in %.1f s", head.name, seconds[head.name])
        if tuple(heads) != settings.heads:
            raise ValueError(f"settings name heads {settings.heads}, the configs built {tuple(heads)}")
        return cls(heads, settings), FitReport(len(videos), int(len(pairs.features)), seconds)

    def _video_scores(self, video: VideoEmbeddings) -> VideoScore:
        s = self.settings
        video = video.in_frame_order()
        probs = sigmoid(video.logits)
        scores: dict[str, float | None] = dict.fromkeys(self.scorer_names)
        scores[CLASSIFIER] = aggregate(probs, s.aggregate, s.topk) if len(probs) else None
        out = VideoScore(video.video_id, len(video.frame_indices), video.frame_indices.tolist(), probs.tolist(),
                         pairs=[], pair_scores={}, scores=scores)
        if out.num_frames < max(2, s.min_frames):
            out.reason = f"{out.num_frames} usable frame(s) < eval.min_frames={s.min_frames}"
            return out
        feats, pair_frames = pair_features(video, s.pairs, s.operator, s.seed)
        out.pairs = pair_frames.tolist()
        for name, head in self.heads.items():
            pair_scores = head.score(feats)
            out.pair_scores[name] = pair_scores.tolist()
            scores[name] = aggregate(pair_scores, s.aggregate, s.topk)
        return out

    def score_video(self, video: VideoEmbeddings) -> VideoScore:
        """Pair scores per head, frame probabilities, video scores per scorer, and calibrated decisions.

        A video with fewer than min_frames frames (or no pairs) gets no differential or fusion score
        (None, with `reason`); the classifier still scores it when it has at least one frame.
        """
        out = self._video_scores(video)
        if self.calibration is not None:
            if self.settings.fusion:
                self.calibration.add_fusions(out.scores, list(self.heads))
            out.decisions = self.calibration.decide(out.scores)
        return out

    def calibrate(self, reals: Sequence[VideoEmbeddings], fakes: Sequence[VideoEmbeddings],
                  reference_split: str = "val") -> Calibration:
        """Calibrate on validation reals (label 0) and pseudo-fakes (label 1); sets and returns the calibration."""
        scores: list[VideoScores] = [self._video_scores(v).scores for v in [*reals, *fakes]]
        labels = [0] * len(reals) + [1] * len(fakes)
        s = self.settings
        self.calibration = calibrate(scores, labels, list(self.heads), s.fpr_targets, s.fusion_weights,
                                     reference_split)
        return self.calibration

    def save(self, run_dir: Path) -> None:
        """Write scorer.json, the heads and (if set) calibration.json into run_dir."""
        atomic_write_json(run_dir / SETTINGS_FILE, self.settings.to_json())
        for name, head in self.heads.items():
            head.save(run_dir / HEADS_DIR / name)
        if self.calibration is not None:
            atomic_write_json(run_dir / CALIBRATION_FILE, self.calibration.to_json())

    @classmethod
    def load(cls, run_dir: Path | str) -> DifferentialDetector:
        """Settings, every saved head and the calibration of a run that finished fit_head."""
        run_dir = Path(run_dir)
        path = run_dir / SETTINGS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir} has no {SETTINGS_FILE}: run the fit_head stage into this run dir")
        fix = f"rerun the fit_head stage into {run_dir} (it rewrites the detector files)"
        with reading(path, fix):
            settings = ScorerSettings.from_json(read_json(path, fix))
        heads = {name: load_head(run_dir / HEADS_DIR / name) for name in settings.heads}
        cal_path = run_dir / CALIBRATION_FILE
        calibration = None
        if cal_path.is_file():
            with reading(cal_path, fix):
                calibration = Calibration.from_json(read_json(cal_path, fix))
        return cls(heads, settings, calibration)
