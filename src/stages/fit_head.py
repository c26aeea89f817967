"""Stage `fit_head`: pairs from the training reals -> operator -> heads; calibration on validation data.

Writes into the run dir: heads/<name>/ (safetensors + JSON), scorer.json and calibration.json (validation
reference scores for rank normalisation, thresholds at target FPRs on validation reals, fusion weights).
"""

from __future__ import annotations

import time
from typing import Any

from omegaconf import DictConfig, OmegaConf

from data_modules.pairs import EmbeddingTable, build_pairs, load_rows
from data_modules.records import REAL, STATUS_OK
from src.config import CONFIG_DIR
from src.evaluation.run_scorer import RunScorer
from src.models.heads import build_head
from src.stages import RunContext
from src.stages.embed import EMBEDDINGS_FILE, PSEUDO_FILE, ROWS_FILE, embedding_dir
from src.utils.logging import get_logger

log = get_logger(__name__)


def head_configs(cfg: DictConfig) -> list[dict[str, Any]]:
    """cfg.head first, then (eval.compare_heads) every other head with its experiments/head/*.yaml defaults."""
    primary = OmegaConf.to_container(cfg.head, resolve=True)
    out = [primary]
    if cfg.eval.get("compare_heads", True):
        for path in sorted((CONFIG_DIR / "head").glob("*.yaml")):
            other = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            if other["name"] != primary["name"]:
                out.append(other)
    return out


def scorer_settings(cfg: DictConfig, heads: list[str], embed_dim: int) -> dict[str, Any]:
    """What RunScorer needs besides the heads: pairing, operator, aggregation, calibration targets."""
    ev = cfg.eval
    return {"pairs": OmegaConf.to_container(cfg.pairs, resolve=True),
            "pair_op": OmegaConf.to_container(cfg.pair_op, resolve=True), "seed": int(cfg.seed),
            "aggregate": ev.aggregate, "topk": int(ev.topk), "min_frames": int(ev.min_frames),
            "fpr_targets": [float(t) for t in ev.fpr_targets], "fusion": bool(ev.fusion.enabled),
            "fusion_weights": [float(w) for w in ev.fusion.weights], "heads": heads, "primary": heads[0],
            "embed_dim": embed_dim}


def _videos(rows: list[dict[str, Any]], table: EmbeddingTable, split: str) -> list[str]:
    return [r["video_id"] for r in rows if r["split"] == split and int(r["label"]) == REAL
            and r["status"] == STATUS_OK and r["video_id"] in table]


def run(ctx: RunContext) -> dict[str, Any]:
    """Fit every configured head on training-real pairs, calibrate on validation reals + pseudo-fakes."""
    cfg = ctx.cfg
    emb_dir = embedding_dir(ctx, cfg.data)
    table, rows = EmbeddingTable.load(emb_dir / EMBEDDINGS_FILE), load_rows(emb_dir / ROWS_FILE)
    train = _videos(rows, table, "train")
    if not train:
        raise ValueError(f"dataset '{cfg.data.name}' has no embedded training real videos to fit heads on")
    pairs = build_pairs(table, train, cfg.pairs, cfg.pair_op, int(cfg.seed))
    log.info("fit_head: %d pairs from %d training real videos (%s, op %s)", len(pairs.features), len(train),
             cfg.pairs.strategy, cfg.pair_op.name)
    heads, fit_s = {}, {}
    for head_cfg in head_configs(cfg):
        start = time.perf_counter()
        heads[head_cfg["name"]] = build_head(head_cfg, int(cfg.seed)).fit(pairs.features)
        fit_s[head_cfg["name"]] = round(time.perf_counter() - start, 3)
        log.info("fit_head: %s fitted in %.1f s", head_cfg["name"], fit_s[head_cfg["name"]])
    scorer = RunScorer(heads, scorer_settings(cfg, list(heads), table.dim))

    val, reference_split = _videos(rows, table, "val"), "val"
    if not val:
        log.warning("fit_head: no validation real videos; calibrating on the training reals instead")
        val, reference_split = train, "train"
    pseudo_path = emb_dir / PSEUDO_FILE
    pseudo = EmbeddingTable.load(pseudo_path) if pseudo_path.is_file() else None
    scores = [scorer.score_video(*table.video(v), video_id=v)["scores"] for v in val]
    labels = [0] * len(scores)
    for vid in (pseudo.video_ids.tolist() if pseudo is not None else []):
        scores.append(scorer.score_video(*pseudo.video(vid), video_id=vid)["scores"])
        labels.append(1)
    calibration = scorer.calibrate(scores, labels)
    calibration["reference_split"] = reference_split
    scorer.save(ctx.run_dir)
    summary = {"train_videos": len(train), "train_pairs": int(len(pairs.features)), "fit_seconds": fit_s,
               "val_real_videos": calibration["n_val_real"], "val_pseudo_fake_videos": calibration["n_val_pseudo_fake"],
               "val_auc": {k: v.get("val_auc") for k, v in calibration["scorers"].items() if "val_auc" in v},
               "fusion_weight": {k: v["weight"] for k, v in calibration["fusion"].items()}}
    ctx.log_metrics({f"val_auc/{k}": v for k, v in summary["val_auc"].items() if v is not None})
    return summary
