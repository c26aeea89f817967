"""Metrics against scikit-learn, the reference thresholded "AUC", frame metrics, accuracy, aggregation, groups,
fusion, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from src.evaluation.groups import evaluation_groups
from src.evaluation.metrics import (
    accuracy_at,
    balanced_accuracy_at,
    detection_metrics,
    equal_error_rate,
    frame_metrics,
    reference_thresholded_auc,
    tpr_at_fpr,
)
from src.evaluation.videos import ScoredVideo as VideoInfo
from src.models.differential.calibration import choose_weight, fuse, rank_normalise, threshold_at_fpr
from src.models.differential.scorer import aggregate


@pytest.fixture
def labelled() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200), np.ones(100)].astype(int)
    return labels, rng.standard_normal(300) + 1.2 * labels


def test_auc_and_ap_match_sklearn(labelled):
    labels, scores = labelled
    m = detection_metrics(labels, scores, [0.01, 0.05])
    assert m["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert m["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert (m["n_real"], m["n_fake"]) == (200, 100)
    assert 0 <= m["tpr@fpr0.01"] <= m["tpr@fpr0.05"] <= 1


def test_eer_and_tpr_on_known_inputs():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    assert equal_error_rate(labels, perfect) == 0.0
    assert tpr_at_fpr(labels, perfect, 0.01) == 1.0
    one_swap = np.array([0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.8, 0.9])  # one real above one fake
    assert equal_error_rate(labels, one_swap) == pytest.approx(0.25)
    assert tpr_at_fpr(labels, one_swap, 0.01) == 0.75
    assert tpr_at_fpr(labels, one_swap, 0.25) == 1.0


def test_reference_thresholded_auc_worked_example():
    """Scores binarised at the best test threshold: here 0.55 gives TPR 2/3, TNR 1, so 'AUC' = 5/6."""
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.3, 0.5, 0.4, 0.6, 0.7])
    assert roc_auc_score(labels, scores) == pytest.approx(8 / 9)
    assert reference_thresholded_auc(labels, scores) == pytest.approx(5 / 6)


def test_single_class_gives_nan_with_a_note():
    m = detection_metrics(np.zeros(4, int), np.arange(4.0))
    assert math.isnan(m["auc"]) and m["note"] == "needs real and fake videos" and m["n_fake"] == 0


def test_aggregation():
    s = np.array([1.0, 5.0, 2.0, 4.0])
    assert aggregate(s, "mean") == 3.0 and aggregate(s, "max") == 5.0 and aggregate(s, "topk", 2) == 4.5
    with pytest.raises(ValueError, match="eval.aggregate 'median'"):
        aggregate(s, "median")
    with pytest.raises(ValueError, match="empty"):
        aggregate(np.array([]))


def test_per_manipulation_groups_on_a_hand_made_table():
    v = [VideoInfo("ff/real/c23/000", 0, "ff", "real", "c23"), VideoInfo("ff/real/c23/001", 0, "ff", "real", "c23"),
         VideoInfo("ff/real/c40/000", 0, "ff", "real", "c40"),
         VideoInfo("ff/Deepfakes/c23/000_003", 1, "ff", "Deepfakes", "c23"),
         VideoInfo("ff/FaceSwap/c23/000_003", 1, "ff", "FaceSwap", "c23"),
         VideoInfo("ff/Deepfakes/c40/000_003", 1, "ff", "Deepfakes", "c40"),
         VideoInfo("cdf/real/raw/a", 0, "cdf", "real", "raw"), VideoInfo("cdf/synthesis/raw/b", 1, "cdf", "synthesis", "raw")]
    g = {k: [x.video_id for x, m in zip(v, mask, strict=True) if m] for k, mask in evaluation_groups(v).items()}
    assert set(g) == {"ff", "ff/Deepfakes/c23", "ff/FaceSwap/c23", "ff/Deepfakes/c40", "cdf", "cdf/synthesis/raw"}
    assert g["ff/Deepfakes/c23"] == ["ff/real/c23/000", "ff/real/c23/001", "ff/Deepfakes/c23/000_003"]
    assert g["ff/Deepfakes/c40"] == ["ff/real/c40/000", "ff/Deepfakes/c40/000_003"]
    assert len(g["ff"]) == 6 and g["cdf"] == ["cdf/real/raw/a", "cdf/synthesis/raw/b"]


def test_rank_normalise_and_fusion_weight_on_validation():
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    assert rank_normalise([0.0, 2.0, 2.5, 9.0], ref).tolist() == [0.0, 0.375, 0.5, 1.0]
    labels = np.array([0, 0, 0, 1, 1, 1])
    head = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])  # perfect
    clf = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.5])   # poor
    w, aucs = choose_weight(labels, head, clf, [0.0, 0.5, 1.0])
    assert w == 1.0 and aucs["1"] == 1.0 and aucs["0"] < 1.0
    assert fuse(head, clf, 0.25).tolist() == pytest.approx((0.25 * head + 0.75 * clf).tolist())
    w_tie, _ = choose_weight(labels, head, head, [0.0, 0.3, 0.5, 1.0])
    assert w_tie == 0.5


def test_threshold_at_fpr_flags_at_most_that_fraction():
    reals = np.arange(100.0)
    t = threshold_at_fpr(reals, 0.05)
    assert (reals > t).mean() <= 0.05


def test_frame_metrics_match_sklearn_on_frames_with_ties(labelled):
    labels, scores = labelled
    frames = np.round(scores, 1)  # rounded: many tied frame scores
    m = frame_metrics(labels, frames)
    assert m.auc == pytest.approx(roc_auc_score(labels, frames), abs=1e-12)
    assert m.ap == pytest.approx(average_precision_score(labels, frames), abs=1e-12)
    assert m.eer == equal_error_rate(labels, frames) and 0 < m.eer < 0.5
    assert (m.n_real, m.n_fake, m.threshold, m.note) == (200, 100, None, "")
    assert math.isnan(m.acc) and math.isnan(m.balanced_acc)
    at = frame_metrics(labels, frames, threshold=0.6)
    assert at.acc == pytest.approx(((frames > 0.6) == labels).mean())
    assert at.balanced_acc == pytest.approx(balanced_accuracy_score(labels, frames > 0.6))
    known = frame_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert (known.auc, known.ap) == (0.75, pytest.approx(5 / 6))
    assert math.isnan(frame_metrics(np.ones(3, int), np.arange(3.0)).auc)


def test_accuracy_and_balanced_accuracy_by_hand():
    """3 reals, 5 fakes, threshold 0.5 (score > 0.5 = fake): one real and two fakes misclassified; a score
    equal to the threshold counts as real. TNR 2/3, TPR 3/5: balanced 19/30; accuracy 5/8."""
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    scores = np.array([0.2, 0.5, 0.7, 0.9, 0.6, 0.8, 0.5, 0.1])
    assert accuracy_at(labels, scores, 0.5) == 5 / 8
    assert balanced_accuracy_at(labels, scores, 0.5) == pytest.approx(19 / 30)
    with pytest.raises(ValueError, match="needs real and fake items; got 0 real, 3 fake"):
        balanced_accuracy_at(np.ones(3, int), np.arange(3.0), 0.5)
