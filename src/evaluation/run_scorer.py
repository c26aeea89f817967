"""Score videos with a finished run: pairs -> operator -> every head, the classifier, fusion, decisions.

The run directory holds scorer.json (pairs, operator, aggregation, seed), heads/<name>/ and calibration.json
(validation reference scores, thresholds at target FPRs on validation reals, fusion weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from data_modules.io import atomic_write_json
from data_modules.pairs import video_pair_features
from src.evaluation.fusion import choose_weight, fuse, rank_normalise
from src.evaluation.metrics import aggregate, roc_auc, threshold_at_fpr
from src.models.heads import Head, load_head

SETTINGS_FILE, CALIBRATION_FILE, HEADS_DIR = "scorer.json", "calibration.json", "heads"
CLASSIFIER = "classifier"


def fusion_name(head: str) -> str:
    """Scorer name of the fusion of `head` with the classifier."""
    return f"fusion_{head}"


def sigmoid(x: np.ndarray) -> np.ndarray:
    """P(fake) from classifier logits."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class RunScorer:
    """Per-video scoring shared by the evaluate stage and src/score.py."""

    def __init__(self, heads: dict[str, Head], settings: dict[str, Any], calibration: dict[str, Any] | None = None):
        self.heads, self.settings, self.calibration = heads, settings, calibration

    @classmethod
    def from_run_dir(cls, run_dir: Path | str) -> RunScorer:
        """Load settings, every saved head and the calibration of a run that finished fit_head."""
        run_dir = Path(run_dir)
        path = run_dir / SETTINGS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir} has no {SETTINGS_FILE}: run the fit_head stage into this run dir")
        settings = json.loads(path.read_text())
        heads = {name: load_head(run_dir / HEADS_DIR / name) for name in settings["heads"]}
        cal_path = run_dir / CALIBRATION_FILE
        calibration = json.loads(cal_path.read_text()) if cal_path.is_file() else None
        return cls(heads, settings, calibration)

    def save(self, run_dir: Path) -> None:
        """Write scorer.json, the heads and (if set) calibration.json into run_dir."""
        atomic_write_json(run_dir / SETTINGS_FILE, self.settings)
        for name, head in self.heads.items():
            head.save(run_dir / HEADS_DIR / name)
        if self.calibration is not None:
            atomic_write_json(run_dir / CALIBRATION_FILE, self.calibration)

    @property
    def scorer_names(self) -> list[str]:
        """Heads, the classifier, and (unless fusion is off) one fusion per head."""
        fusions = [fusion_name(h) for h in self.heads] if self.settings.get("fusion", True) else []
        return [*self.heads, CLASSIFIER, *fusions]

    def _agg(self, scores: np.ndarray) -> float:
        return aggregate(scores, self.settings["aggregate"], self.settings.get("topk", 3))

    def score_video(self, embeddings: np.ndarray, logits: np.ndarray, frame_indices: np.ndarray,
                    video_id: str = "") -> dict[str, Any]:
        """Pair scores per head, frame probabilities, video scores per scorer, and calibrated decisions.

        A video with fewer than min_frames frames (or no pairs) gets no differential or fusion score
        (None, with `reason`); the classifier still scores it when it has at least one frame.
        """
        s = self.settings
        embeddings = np.asarray(embeddings, dtype=np.float32)
        order = np.argsort(np.asarray(frame_indices), kind="stable")
        embeddings, logits, frames = embeddings[order], np.asarray(logits)[order], np.asarray(frame_indices)[order]
        probs = sigmoid(logits)
        out: dict[str, Any] = {"num_frames": len(frames), "frame_indices": frames.tolist(),
                               "frame_probs": probs.tolist(), "pairs": [], "pair_scores": {}, "reason": ""}
        scores: dict[str, float | None] = dict.fromkeys(self.scorer_names)
        scores[CLASSIFIER] = self._agg(probs) if len(probs) else None
        if len(frames) < max(2, int(s["min_frames"])):
            out["reason"] = f"{len(frames)} usable frame(s) < eval.min_frames={s['min_frames']}"
        else:
            feats, pair_frames = video_pair_features(embeddings, frames, s["pairs"], s["pair_op"], s["seed"], video_id)
            out["pairs"] = pair_frames.tolist()
            for name, head in self.heads.items():
                pair_scores = head.score(feats)
                out["pair_scores"][name] = pair_scores.tolist()
                scores[name] = self._agg(pair_scores)
        out["usable"] = not out["reason"]
        if self.calibration is not None:
            if self.settings.get("fusion", True):
                self._fuse(scores)
            out["decisions"] = self._decide(scores)
        out["scores"] = scores
        return out

    def _fuse(self, scores: dict[str, float | None]) -> None:
        refs = self.calibration["scorers"]
        for head in self.heads:
            if scores[head] is None or scores[CLASSIFIER] is None:
                continue
            ranks = [rank_normalise([scores[k]], refs[k]["reference"])[0] for k in (head, CLASSIFIER)]
            scores[fusion_name(head)] = float(fuse(ranks[0], ranks[1], self.calibration["fusion"][head]["weight"]))

    def _decide(self, scores: dict[str, float | None]) -> dict[str, dict[str, bool]]:
        """Fake if the video score is above the threshold set at each target FPR on validation reals."""
        out = {}
        for name, value in scores.items():
            thresholds = self.calibration["scorers"].get(name, {}).get("thresholds", {})
            if value is not None:
                out[name] = {f"fpr{k}": bool(value > t) for k, t in thresholds.items()}
        return out

    def calibrate(self, video_scores: list[dict[str, float | None]], labels: list[int]) -> dict[str, Any]:
        """Reference scores, thresholds on reals and fusion weights from validation videos; sets self.calibration.

        video_scores: the `scores` dict of score_video for each validation video (reals 0, pseudo-fakes 1).
        """
        labels_arr = np.asarray(labels)
        fpr_targets, weights = self.settings["fpr_targets"], self.settings["fusion_weights"]
        cal: dict[str, Any] = {"scorers": {}, "fusion": {}, "n_val_real": int((labels_arr == 0).sum()),
                               "n_val_pseudo_fake": int((labels_arr == 1).sum())}
        for name in [*self.heads, CLASSIFIER]:
            vals = np.asarray([v[name] for v in video_scores if v[name] is not None], dtype=np.float64)
            lab = np.asarray([y for v, y in zip(video_scores, labels, strict=True) if v[name] is not None])
            if not (lab == 0).any():
                raise ValueError(f"calibration: no validation real video has a '{name}' score")
            cal["scorers"][name] = {
                "reference": np.sort(vals).tolist(),
                "thresholds": {f"{t:g}": threshold_at_fpr(vals[lab == 0], t) for t in fpr_targets},
                "val_auc": roc_auc(lab, vals) if len(set(lab.tolist())) == 2 else None,
            }
        for head in self.heads:
            keep = [i for i, v in enumerate(video_scores) if v[head] is not None and v[CLASSIFIER] is not None]
            ranks = {k: rank_normalise([video_scores[i][k] for i in keep], cal["scorers"][k]["reference"])
                     for k in (head, CLASSIFIER)}
            lab = labels_arr[keep]
            if len(set(lab.tolist())) == 2:
                weight, aucs = choose_weight(lab, ranks[head], ranks[CLASSIFIER], list(weights))
                cal["fusion"][head] = {"weight": weight, "val_auc_by_weight": aucs}
            else:
                cal["fusion"][head] = {"weight": 0.5, "val_auc_by_weight": {},
                                       "note": "no validation pseudo-fakes: equal weights"}
        self.calibration = cal
        # fusion thresholds need the fused validation scores, so they come after the weights
        fused = []
        for v in video_scores:
            v = dict(v)
            self._fuse(v)
            fused.append(v)
        for head in self.heads:
            name = fusion_name(head)
            real = np.asarray([v[name] for v, y in zip(fused, labels, strict=True) if y == 0 and v[name] is not None])
            if len(real):
                cal["scorers"][name] = {"thresholds": {f"{t:g}": threshold_at_fpr(real, t) for t in fpr_targets}}
        return cal
