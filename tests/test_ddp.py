"""Multi-process stage 1 on CPU: two gloo DDP ranks started by torchrun train a tiny backbone with SAM on
different batches and end with identical weights (what multi-node DDP relies on, minus CUDA: on CPU batch norm
cannot be synchronised, so running statistics stay per rank)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from src.artifacts.keys import face_cache_key
from src.artifacts.store import ArtifactStore
from src.config import compose_config
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet
from tests.conftest import REPO_ROOT
from tests.fixtures_faces import write_face_cache

VIDEOS = {"v0": "train", "v1": "train", "v2": "train", "v3": "train", "v4": "val"}


@pytest.mark.slow
def test_two_gloo_ranks_train_to_identical_weights(tmp_path: Path):
    overrides = [
        "stages=[train_extractor]", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.precision=32-true", "trainer.sync_batchnorm=false", "trainer.benchmark=false",
        "+trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
        "logger=none", f"paths.artifact_dir={tmp_path}/artifacts",
        "backbone.name=test_efficientnet", "backbone.pretrained=false", "backbone.image_size=64",
        "extractor.epochs=2", "extractor.pairs_per_batch=2", "extractor.num_workers=0", "extractor.val_size=8",
    ]
    cfg = compose_config(overrides, output_dir=tmp_path / "run")
    store = ArtifactStore(cfg.paths.artifact_dir)
    with store.build("faces", face_cache_key(cfg.data, cfg.face)) as work:
        write_face_cache(work, VIDEOS, frames_per_video=3, size=96)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "tests.ddp_worker", str(tmp_path), *overrides]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world_size"] for i in info] == [2, 2] and {i["backend"] for i in info} == {"gloo"}
    # 12 training frames, 6 per rank, 2 pairs a batch: 3 SAM updates per epoch, 2 epochs
    assert [i["global_step"] for i in info] == [6, 6]
    assert not set(info[0]["batches"]) & set(info[1]["batches"])  # the ranks trained on different data
    weights = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    differ = {k for k in weights[0] if not torch.equal(weights[0][k], weights[1][k])}
    # every parameter (and step count) is identical; only batch-norm running statistics are each rank's own,
    # since SyncBatchNorm needs CUDA (rank zero's are the ones checkpointed and exported)
    assert differ and all(k.endswith((".running_mean", ".running_var")) for k in differ), sorted(differ)
    # ... and they trained: rank zero's weights moved away from the shared initialisation
    torch.manual_seed(cfg.seed)  # the workers' seed_everything(cfg.seed) before building the network
    initial = FeatureExtractorNet.build(ExtractorSpec(backbone={"name": "test_efficientnet", "pretrained": False},
                                                      image_size=64)).state_dict()
    head = weights[0]["net.head.weight"]
    assert head.shape == initial["head.weight"].shape and not torch.equal(head, initial["head.weight"])
