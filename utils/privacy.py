"""Per-example privacy attacks on unlearning, from the outputs of many shadow models (numpy, no torch).

- U-LiRA (Hayes et al. 2024, "Inexact unlearning needs more careful evaluations"): for each target example, a
  Gaussian of its logit-scaled confidence under models that saw it and unlearned it, and one under models that never
  saw it; an unlearned model's confidence is scored by the log likelihood ratio of the two.
- The NeurIPS 2023 Machine Unlearning Challenge's forgetting quality (Triantafillou et al. 2024,
  google-deepmind/unlearning_evaluation metric.py): a per-example ε from the best single- or double-threshold test
  between unlearned and retrained models' confidences, bucketed into a forget score F.
"""
import math
from dataclasses import dataclass

import numpy as np

DELTA = 1e-5  # the challenge's δ
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100  # the challenge's grid of thresholds per unit of confidence
BUFFER = 2.0  # how far the challenge's double-threshold grid reaches past the peakier distribution
FPR_LEVELS = (0.01, 0.001)


def logit_scaled_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log p_y − log(1 − p_y) per row (LiRA's statistic), computed from the logits without rounding p_y to 1:
    z_y − logsumexp of the other logits."""
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(logits))
    true = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    peak = others.max(1, keepdims=True)
    return true - (peak[:, 0] + np.log(np.exp(others - peak).sum(1)))


@dataclass
class Roc:
    """Scores of positives (unlearned models) against negatives (retrained ones), summarised."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    balanced_accuracy: float
    tpr_at: dict[float, float]  # FPR level -> the best TPR at or below it

    def summary(self) -> dict:
        return {"auc": self.auc, "balanced_accuracy": self.balanced_accuracy,
                **{f"tpr_at_{level * 100:g}pct_fpr": value for level, value in self.tpr_at.items()}}

    def points(self, count: int = 200) -> dict[str, list[float]]:
        """The curve thinned to about `count` points, evenly in log FPR (for the records and the figure)."""
        keep = np.unique(np.concatenate([[0, len(self.fpr) - 1], np.searchsorted(
            self.fpr, np.geomspace(max(self.fpr[self.fpr > 0].min(initial=1e-4), 1e-4), 1, count))]))
        keep = keep[keep < len(self.fpr)]
        return {"fpr": self.fpr[keep].round(6).tolist(), "tpr": self.tpr[keep].round(6).tolist()}


def roc(positive: np.ndarray, negative: np.ndarray, levels: tuple[float, ...] = FPR_LEVELS) -> Roc:
    """ROC of "higher score = positive": the curve, its AUC (ties count half), the best balanced accuracy over
    thresholds and the TPR at each FPR level."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    scores = np.concatenate([positive, negative])
    truth = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))])
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]  # the last row of each distinct score
    tpr = np.r_[0.0, np.cumsum(truth)[last] / len(positive)]
    fpr = np.r_[0.0, np.cumsum(1 - truth)[last] / len(negative)]
    auc = float(np.trapezoid(tpr, fpr))
    tpr_at = {level: float(tpr[fpr <= level].max()) for level in levels}
    return Roc(fpr, tpr, auc, float(((tpr + 1 - fpr) / 2).max()), tpr_at)


@dataclass
class Ulira:
    """U-LiRA's outcome: the ROC of unlearned against retrained models' scores, and each target's mean log
    likelihood ratio under the unlearned models (high: its unlearning is visible)."""

    roc: Roc
    example_llr: np.ndarray  # per target: mean log LR of its unlearned observations
    positives: int
    negatives: int


def ulira(unlearned: np.ndarray, retrained: np.ndarray, held: np.ndarray) -> Ulira:
    """U-LiRA, each shadow in turn the target (leave one out).

    unlearned, retrained: [shadows, targets] logit-scaled confidences of each shadow's unlearned and retrained model on
    every target; held: [shadows, targets] whether the shadow was trained on (and so unlearned) the target.
    For shadow s and a target it held, the unlearned model's confidence is a positive and the retrained model's a
    negative; each is scored by log N(c; μ_u, σ_u) − log N(c; μ_r, σ_r), with μ the target's mean over the other
    shadows (those that held it, for μ_u; all, for μ_r, since no retrained shadow saw a target) and σ one spread per
    distribution over all targets (LiRA's fixed variance, steadier than a per-example one with few shadows)."""
    held = held.astype(bool)
    shadows = held.shape[0]
    u = np.where(held, unlearned, np.nan)
    var_u = float(np.nanmean(np.nanvar(u, axis=0, ddof=1)))
    var_r = float(np.mean(np.var(retrained, axis=0, ddof=1)))
    sd_u, sd_r = math.sqrt(max(var_u, 1e-12)), math.sqrt(max(var_r, 1e-12))
    u_sum, u_count = np.nansum(u, axis=0), held.sum(0)
    r_sum = retrained.sum(0)

    def llr(c: np.ndarray, mu_u: np.ndarray, mu_r: np.ndarray) -> np.ndarray:
        return (-0.5 * ((c - mu_u) / sd_u) ** 2 - math.log(sd_u)) - (-0.5 * ((c - mu_r) / sd_r) ** 2 - math.log(sd_r))

    pos, neg, per_example = [], [], [[] for _ in range(held.shape[1])]
    for s in range(shadows):
        cols = np.nonzero(held[s] & (u_count > 1))[0]
        mu_u = (u_sum[cols] - unlearned[s, cols]) / (u_count[cols] - 1)
        mu_r = (r_sum[cols] - retrained[s, cols]) / (shadows - 1)
        p, n = llr(unlearned[s, cols], mu_u, mu_r), llr(retrained[s, cols], mu_u, mu_r)
        pos.append(p)
        neg.append(n)
        for col, value in zip(cols, p):
            per_example[col].append(value)
    pos, neg = np.concatenate(pos), np.concatenate(neg)
    example = np.array([np.mean(v) if v else np.nan for v in per_example])
    return Ulira(roc(pos, neg), example, len(pos), len(neg))


def _single_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tpr, fnr, fpr, tnr) of "c ≥ t is positive" over the challenge's grid of t."""
    both = np.concatenate([pos, neg])
    low, high = both.min(), both.max()
    grid = np.linspace(low, high, int(math.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    tpr = 1 - np.searchsorted(np.sort(pos), grid, "left") / len(pos)
    fpr = 1 - np.searchsorted(np.sort(neg), grid, "left") / len(neg)
    return tpr, 1 - tpr, fpr, 1 - fpr


def _double_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tpr, fnr, fpr, tnr) of "l ≤ c ≤ r is the peakier distribution" over the challenge's grid of (l, r)."""
    pos_range, neg_range = np.ptp(pos), np.ptp(neg)
    width = neg_range if pos_range > neg_range else pos_range
    if pos_range >= neg_range:  # positive = the peakier distribution
        pos, neg = neg, pos
    low, high = pos.min() + width - BUFFER, pos.max() + BUFFER
    right = np.linspace(low, high, int(math.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    steps = np.linspace(-width - BUFFER, -width + BUFFER, int(math.ceil(2 * BUFFER * THRESHOLDS_PER_UNIT)))
    left = (right[:, None] + steps[None, :]).ravel()
    right = np.repeat(right, len(steps))

    def inside(values: np.ndarray) -> np.ndarray:
        ordered = np.sort(values)
        return (np.searchsorted(ordered, right, "right") - np.searchsorted(ordered, left, "left")) / len(values)

    tpr, fpr = inside(pos), inside(neg)
    return tpr, 1 - tpr, fpr, 1 - fpr


def challenge_epsilon(pos: np.ndarray, neg: np.ndarray, delta: float = DELTA) -> float:
    """The challenge's ε of one example from its confidences under the models of each kind (pos: the kind with the
    larger median): the largest max(log(1−δ−FPR) − log FNR, log(1−δ−FNR) − log FPR) over both threshold families,
    thresholds where only one of FPR, FNR is 0 left out, perfect separation ε = cap; an unlearned distribution ≥ 100×
    narrower than the other ("peaky") is given the cap too. Clipped to [0, 50]."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    ranges = sorted([np.ptp(pos), np.ptp(neg)])
    if ranges[1] == 0:  # both constant: the same value is indistinguishable, two values perfectly separated
        return 0.0 if pos[0] == neg[0] else EPSILON_CAP
    if ranges[0] / ranges[1] < 0.01:
        return EPSILON_CAP
    rates = [np.concatenate(parts) for parts in zip(_double_threshold_rates(pos, neg), _single_threshold_rates(pos, neg))]
    tpr, fnr, fpr, tnr = rates
    if np.any((fpr + fnr == 0) & (tpr + tnr == 2)):
        return EPSILON_CAP
    usable = fpr * fnr > 0
    if not usable.any():
        return 0.0
    fpr, fnr = fpr[usable], fnr[usable]
    with np.errstate(invalid="ignore"):  # 1 − δ − rate < 0 at rate 1: NaN, which nanmax passes over
        eps = np.maximum(np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr))
    return float(np.clip(np.nanmax(eps), 0, EPSILON_CAP))


def challenge_epsilons(unlearned: np.ndarray, retrained: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Each target's ε from the shadows that held it: their unlearned models against their retrained ones."""
    held = held.astype(bool)
    eps = np.full(held.shape[1], np.nan)
    for t in range(held.shape[1]):
        u, r = unlearned[held[:, t], t], retrained[held[:, t], t]
        if len(u) < 2:
            continue
        pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
        eps[t] = challenge_epsilon(pos, neg)
    return eps


def bucket_points(models: int) -> list[tuple[float, float]]:
    """The challenge's buckets of ε, (upper edge, points): [0, 0.5) is worth 1, [0.5, 1) 1/2, ... up to
    ⌈ln(models − 1)⌉; an ε beyond is worth 0."""
    top = math.ceil(math.log(models - 1)) if models > 2 else 0
    buckets, start, points = [], 0.0, 1.0
    while start + 0.5 <= top:
        buckets.append((start + 0.5, points))
        start, points = start + 0.5, points / 2
    return buckets


def forget_score(eps: np.ndarray, models: int) -> float:
    """The challenge's forget score F: the mean of each example's points (bucket_points) for its ε."""
    buckets = bucket_points(models)
    eps = np.asarray(eps, float)
    eps = eps[~np.isnan(eps)]
    points = [next((p for edge, p in buckets if e < edge), 0.0) for e in eps]
    return float(np.mean(points)) if points else math.nan
