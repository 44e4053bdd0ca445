"""utils.privacy: LiRA's confidence, the ROC summary, U-LiRA and the NeurIPS 2023 challenge's ε and forget score,
against values worked out by hand from the papers' and the challenge's rules."""
import math

import numpy as np
import pytest

from utils import privacy


def test_logit_scaled_confidence_is_log_odds_of_the_true_class_without_rounding():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 40.0, 0.0]])
    conf = privacy.logit_scaled_confidence(logits, np.array([0, 1]))
    assert conf[0] == pytest.approx(2 - math.log(2))  # p = e²/(e²+2): log p − log(1−p) = 2 − log 2
    assert conf[1] == pytest.approx(40 - math.log(2))  # p rounds to 1 in float64; the log odds do not


def test_roc_summary_by_hand():
    perfect = privacy.roc([3.0, 2.0], [1.0, 0.0])
    assert perfect.auc == 1.0 and perfect.balanced_accuracy == 1.0 and perfect.tpr_at[0.01] == 1.0
    tied = privacy.roc([1.0, 1.0], [1.0, 1.0])
    assert tied.auc == 0.5 and tied.tpr_at[0.01] == 0.0
    # positives 3, 1; negatives 2, 0: pairs (3>2, 3>0, 1<2, 1>0) -> AUC 3/4; threshold 3 gives TPR 1/2 at FPR 0
    mixed = privacy.roc([3.0, 1.0], [2.0, 0.0])
    assert mixed.auc == pytest.approx(0.75) and mixed.tpr_at[0.001] == 0.5 and mixed.balanced_accuracy == 0.75


def test_challenge_epsilon_by_hand():
    # four models each: the best test errs on one model of each kind at most: ε = log((1 − δ − 1/4) / (1/4)) ≈ log 3
    eps = privacy.challenge_epsilon(np.array([2.5, 3.5, 4.5, 5.5]), np.array([0.0, 1.0, 2.0, 3.0]))
    assert eps == pytest.approx(math.log((0.75 - privacy.DELTA) / 0.25))
    assert privacy.challenge_epsilon(np.array([5.0, 6, 7, 8]), np.array([0.0, 1, 2, 3])) == privacy.EPSILON_CAP
    peaky = privacy.challenge_epsilon(np.array([1.0, 1.0, 1.0, 1.001]), np.array([0.0, 5, 10, 20]))
    assert peaky == privacy.EPSILON_CAP  # an unlearned distribution 100x narrower than the retrained one
    assert privacy.challenge_epsilon(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.0
    assert privacy.challenge_epsilon(np.array([0.0, 1, 2, 3]), np.array([0.5, 1.5, 2.5, 3.5])) < 0.7


def test_forget_score_buckets_as_the_challenge():
    assert privacy.bucket_points(4) == [(0.5, 1.0), (1.0, 0.5), (1.5, 0.25), (2.0, 0.125)]  # up to ⌈ln 3⌉ = 2
    assert privacy.forget_score(np.array([0.0, 0.7, 1.1, 1.9, 2.0, 50.0]), 4) == pytest.approx(
        (1 + 0.5 + 0.25 + 0.125 + 0 + 0) / 6)


def test_ulira_separates_shifted_confidences_and_not_identical_ones():
    rng = np.random.default_rng(0)
    shadows, targets = 16, 40
    held = np.zeros((shadows, targets), dtype=bool)
    for t in range(targets):
        held[rng.permutation(shadows)[:shadows // 2], t] = True
    level = rng.normal(0, 2, size=targets)  # each example its own typical confidence (what per-example fits model)
    retrained = level + rng.normal(0, 0.5, size=(shadows, targets))
    leaky = level + 1.0 + rng.normal(0, 0.5, size=(shadows, targets))
    same = level + rng.normal(0, 0.5, size=(shadows, targets))
    strong = privacy.ulira(leaky, retrained, held)
    assert strong.roc.auc > 0.85 and strong.positives == strong.negatives == shadows * targets // 2
    assert np.nanmean(strong.example_llr) > 0
    assert abs(privacy.ulira(same, retrained, held).roc.auc - 0.5) < 0.07
    eps = privacy.challenge_epsilons(leaky, retrained, held)
    assert np.nanmedian(eps) > np.nanmedian(privacy.challenge_epsilons(same, retrained, held))
