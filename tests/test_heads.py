"""One-class heads: separation, collapse guards, determinism, save/load, agreement with scikit-learn."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.svm import OneClassSVM
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from src.models.differential.heads import HEADS, build_head, load_head
from src.models.differential.heads.deep_svdd import (
    DeepSVDDModule,
    DeepSVDDNet,
    DeepSVDDParams,
    check_collapse_guards,
    push_from_zero,
)

logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
D = 16
SMALL = {
    "deep_svdd": {"hidden": [64], "rep_dim": 16, "epochs": 15, "lr_milestones": [12], "batch_size": 256, "lr": 3e-3},
    "gmm": {"pca_dim": None},
    "ocsvm": {},
}


@pytest.fixture(scope="module")
def gaussians() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train = rng.standard_normal((1500, D)).astype(np.float32)
    held_out = rng.standard_normal((300, D)).astype(np.float32)
    shifted = (rng.standard_normal((300, D)) + 2.0).astype(np.float32)
    return train, held_out, shifted


@pytest.fixture(scope="module")
def fitted(gaussians):
    return {name: build_head({"name": name, **SMALL[name]}, seed=3).fit(gaussians[0]) for name in HEADS}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_separates_shifted_gaussian_without_collapse(fitted, gaussians, name):
    _, held_out, shifted = gaussians
    head = fitted[name]
    real, fake = head.score(held_out), head.score(shifted)
    auc = roc_auc_score(np.r_[np.zeros(len(real)), np.ones(len(fake))], np.r_[real, fake])
    assert auc > 0.95, f"{name} AUC {auc:.3f}"
    assert real.var() > 0 and real.dtype == np.float64 and real.shape == (300,)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_save_then_load_gives_identical_scores(fitted, gaussians, tmp_path, name):
    head = fitted[name]
    head.save(tmp_path / name)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["head.json", "head.safetensors"]
    loaded = load_head(tmp_path / name)
    assert type(loaded) is type(head)
    np.testing.assert_array_equal(loaded.score(gaussians[2]), head.score(gaussians[2]))


def test_deep_svdd_is_seeded(gaussians):
    cfg = {"name": "deep_svdd", **SMALL["deep_svdd"], "epochs": 2}
    threads = torch.get_num_threads()
    a = build_head(cfg, seed=5).fit(gaussians[0]).score(gaussians[1])
    b = build_head(cfg, seed=5).fit(gaussians[0]).score(gaussians[1])
    c = build_head(cfg, seed=6).fit(gaussians[0]).score(gaussians[1])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.get_num_threads() == threads  # cpu_threads is restored after fitting


def test_deep_svdd_centre_comes_from_data_and_stays_fixed(fitted, gaussians):
    module = fitted["deep_svdd"].module
    c = module.c.clone()
    assert (c.abs() >= 0.1).all()
    assert not torch.allclose(c.abs(), torch.full_like(c, 0.1))  # not simply the eps floor everywhere
    assert "c" in dict(module.named_buffers()) and all(p is not module.c for p in module.parameters())


def test_deep_svdd_centre_is_the_eval_mode_mean_output(gaussians):
    """Ruff et al.'s init_center_c: a forward pass in eval mode, BatchNorm on (and not updating) its running
    statistics; a train-mode pass would centre on batch statistics the scores never see."""
    head = build_head({"name": "deep_svdd", **SMALL["deep_svdd"]}, seed=3)
    module = head._module(D)
    X = torch.from_numpy(gaussians[0])
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    c = module.init_centre(DataLoader(TensorDataset(X), batch_size=256))
    after = module.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running statistics untouched
    with torch.no_grad():
        want = push_from_zero(module.net.eval()(X).mean(0), 0.1)
        train_mode = push_from_zero(module.net.train()(X).mean(0), 0.1)
    torch.testing.assert_close(c, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(c, train_mode, atol=1e-2)


def test_deep_svdd_autoencoder_pretraining_trains_the_encoder_before_the_centre(gaussians):
    cfg = {"name": "deep_svdd", **SMALL["deep_svdd"], "epochs": 1}
    plain = build_head(cfg, seed=3).fit(gaussians[0])
    pretrained = build_head({**cfg, "pretrain_epochs": 4}, seed=3).fit(gaussians[0])
    assert plain.pretrain_losses == [] and len(pretrained.pretrain_losses) == 4
    assert pretrained.pretrain_losses[-1] < 0.8 * pretrained.pretrain_losses[0]  # it learns to reconstruct
    assert not torch.allclose(plain.module.c, pretrained.module.c)
    first = "body.0.weight"
    assert not torch.allclose(plain.module.net.state_dict()[first], pretrained.module.net.state_dict()[first])
    real, fake = pretrained.score(gaussians[1]), pretrained.score(gaussians[2])
    assert roc_auc_score(np.r_[np.zeros(len(real)), np.ones(len(fake))], np.r_[real, fake]) > 0.9


def test_push_from_zero_keeps_sign():
    out = push_from_zero(torch.tensor([0.0, 0.05, -0.05, 0.5, -0.3]), eps=0.1)
    assert out.tolist() == pytest.approx([0.1, 0.1, -0.1, 0.5, -0.3])


@pytest.mark.parametrize("bad,match", [
    (nn.Sequential(nn.Linear(4, 2, bias=True)), "bias"),
    (nn.Sequential(nn.Linear(4, 2, bias=False), nn.BatchNorm1d(2, affine=True)), "affine"),
    (nn.Sequential(nn.Linear(4, 2, bias=False), nn.Sigmoid()), "bounded"),
])
def test_collapse_guard_refuses_shortcut_networks(bad, match):
    with pytest.raises(ValueError, match=match):
        check_collapse_guards(bad)


def test_collapse_guard_refuses_zero_centre_and_untrained_centre():
    module = DeepSVDDModule(DeepSVDDNet(D, [8], 4), DeepSVDDParams(rep_dim=4))
    with pytest.raises(ValueError, match="eps"):
        module.set_centre(torch.zeros(4))
    with pytest.raises(RuntimeError, match="centre is not initialised"):
        module.training_step((torch.randn(8, D),), 0)


def test_bias_network_can_output_a_constant_which_the_guard_prevents():
    """Why the guards matter: with a bias, zero weights map every input to the centre (loss 0)."""
    net = nn.Linear(D, 4, bias=True)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.1, -0.1, 0.1, 0.1]))
    with torch.no_grad():
        out = net(torch.randn(50, D))
        assert float(((out - net.bias) ** 2).sum(1).max()) == 0.0
    with pytest.raises(ValueError, match="bias"):
        check_collapse_guards(net)


def test_soft_boundary_sets_radius(gaussians):
    cfg = {"name": "deep_svdd", **SMALL["deep_svdd"], "objective": "soft-boundary", "epochs": 4,
           "warmup_epochs": 2, "nu": 0.1}
    head = build_head(cfg, seed=0).fit(gaussians[0])
    assert float(head.module.R) > 0
    outside = float((head.score(gaussians[0]) > 0).mean())
    assert 0.0 < outside < 0.5


def test_gmm_matches_sklearn(gaussians):
    train, held_out, _ = gaussians
    head = build_head({"name": "gmm", "pca_dim": None}, seed=1).fit(train)
    ref = GaussianMixture(3, covariance_type="full", init_params="kmeans", reg_covar=1e-6, max_iter=100,
                          random_state=1).fit(train.astype(np.float64))
    np.testing.assert_allclose(head.score(held_out), -ref.score_samples(held_out.astype(np.float64)), rtol=1e-6)


def test_gmm_pca_option_projects_first(gaussians):
    head = build_head({"name": "gmm", "pca_dim": 4}, seed=1).fit(gaussians[0])
    assert head.gmm.means_.shape == (3, 4) and head.pca.components.shape == (4, D)


def test_ocsvm_matches_sklearn_rbf_gamma_auto(gaussians):
    train, held_out, shifted = gaussians
    head = build_head({"name": "ocsvm", "max_train": None}, seed=0).fit(train)
    ref = OneClassSVM(kernel="rbf", gamma="auto", nu=0.1).fit(train)
    X = np.r_[held_out, shifted]
    np.testing.assert_allclose(head.score(X), -ref.decision_function(X), rtol=1e-4, atol=1e-4)
    assert head.gamma == pytest.approx(1.0 / D)


def test_ocsvm_subsamples_with_seed(gaussians):
    a = build_head({"name": "ocsvm", "max_train": 500}, seed=2).fit(gaussians[0])
    b = build_head({"name": "ocsvm", "max_train": 500}, seed=2).fit(gaussians[0])
    assert a.n_train == 500
    np.testing.assert_array_equal(a.support_vectors, b.support_vectors)


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="unknown head 'svm'; valid choices"):
        build_head({"name": "svm"}, 0)
    with pytest.raises(ValueError, match="unknown option.*'depth'"):
        build_head({"name": "gmm", "depth": 3}, 0)
    head = build_head({"name": "gmm", "pca_dim": None}, 0)
    with pytest.raises(RuntimeError, match="not fitted"):
        head.score(np.zeros((2, D)))
    with pytest.raises(ValueError, match="NaN"):
        head.fit(np.full((10, D), np.nan))
    with pytest.raises(ValueError, match="objective"):
        build_head({"name": "deep_svdd", "objective": "two-class"}, 0).fit(np.zeros((10, D)))


def test_gmm_caps_pca_dims_on_tiny_data():
    X = np.abs(np.random.default_rng(0).standard_normal((32, 200))).astype(np.float32)
    head = build_head({"name": "gmm", "pca_dim": 64}, seed=0).fit(X)
    assert head.pca.components.shape == (5, 200)  # 32 pairs // (2 * 3 components)
    assert np.isfinite(head.score(X)).all()
