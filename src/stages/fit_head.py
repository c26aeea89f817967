"""Stage `fit_head`: the differential detector fitted on training-real pairs and calibrated on validation data.

Writes the run's detector into the run dir (src/models/differential/scorer.py): scorer.json, heads/<name>/
and calibration.json (reference scores for rank fusion, thresholds at target FPRs, fusion weights).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from data_modules.io import to_plain
from data_modules.records import REAL
from src.artifacts.embeddings import read_embeddings
from src.models.differential.scorer import DifferentialDetector, ScorerSettings
from src.stages import RunContext
from src.utils.logging import get_logger

log = get_logger(__name__)


def head_configs(cfg: DictConfig) -> list[dict[str, Any]]:
    """cfg.head first, then (eval.compare_heads) every head of cfg.heads with another name, sorted by name."""
    primary = to_plain(cfg.head)
    others = sorted(cfg.get("heads", {}).items()) if cfg.eval.get("compare_heads", True) else []
    return [primary, *(to_plain(h) for _, h in others if h.name != primary["name"])]


def run(ctx: RunContext) -> dict[str, Any]:
    """Fit every configured head on training-real pairs, calibrate on validation reals + pseudo-fakes."""
    cfg = ctx.cfg
    embeddings = read_embeddings(ctx.store, cfg, cfg.data)
    train = embeddings.videos("train", REAL)
    if not train:
        raise ValueError(f"dataset '{cfg.data.name}' has no embedded training real videos to fit heads on")
    configs = head_configs(cfg)
    settings = ScorerSettings.from_config(cfg, [c["name"] for c in configs], embeddings.table.dim)
    detector, report = DifferentialDetector.fit(configs, settings, train)
    val, reference_split = embeddings.videos("val", REAL), "val"
    if not val:
        log.warning("fit_head: dataset '%s' has no validation real videos; thresholds, rank references and "
                    "fusion weights are set on the %d training reals the heads were fit on (calibration.json: "
                    "thresholds_from_training_reals=true): expect more false alarms than the FPR targets",
                    cfg.data.name, len(train))
        val, reference_split = train, "train"
    fakes = embeddings.pseudo.videos() if embeddings.pseudo is not None else []
    calibration = detector.calibrate(val, fakes, reference_split)
    detector.save(ctx.run_dir)
    val_auc = {k: v.val_auc for k, v in calibration.scorers.items() if v.val_auc is not None}
    ctx.log_metrics({f"val_auc/{k}": v for k, v in val_auc.items()})
    return {"train_videos": report.train_videos, "train_pairs": report.train_pairs, "fit_seconds": report.fit_seconds,
            "val_real_videos": calibration.n_val_real, "val_pseudo_fake_videos": calibration.n_val_pseudo_fake,
            "val_auc": val_auc, "fusion_weight": {k: v.weight for k, v in calibration.fusion.items()}}
