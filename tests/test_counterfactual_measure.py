"""The counterfactual statistics against hand-worked numbers and scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from audit.stats.bootstrap import ClusterBootstrap
from audit.stats.counterfactual import causal_effect, observational_minus_causal

WITH = [4, 5, 3, 4, 2]
WITHOUT = [3, 3, 3, 2, 2]


def test_causal_effect_hand_worked():
    # d = [1, 2, 0, 2, 0]: mean 1.0; sd(d) = sqrt((0 + 1 + 1 + 1 + 1) / 4) = 1, so
    # t = 1.0 / (1 / sqrt(5)) = 2.2361 with 4 df -> two-sided p = 0.0890.
    est = causal_effect(WITH, WITHOUT, kind="ablation", seed=1)
    assert est.estimate == pytest.approx(1.0)
    assert est.p_value == pytest.approx(0.08897, abs=1e-4)
    assert est.p_value == pytest.approx(stats.ttest_rel(WITH, WITHOUT).pvalue)
    assert "paired t-test (pingouin.ttest, paired=True)" in est.method
    assert est.ci_low <= 1.0 <= est.ci_high and est.ci_low >= 0 and est.ci_high <= 2
    x = est.extra
    assert (x["n_up"], x["n_down"], x["n_same"]) == (3, 0, 2)
    assert x["mean_with_mention"] == pytest.approx(3.6) and x["mean_without_mention"] == pytest.approx(2.6)
    # Wilcoxon on the non-zero differences [1, 2, 2]: all positive, so the exact two-sided p is
    # 2 * P(W+ = max) = 2 / 2^3 = 0.25 (scipy's own value below, whatever its tie handling)
    assert x["p_value_wilcoxon"] == pytest.approx(stats.wilcoxon([1, 2, 2]).pvalue)
    assert x["p_value_wilcoxon"] == pytest.approx(0.25, abs=0.05)


def test_causal_effect_with_shared_users_uses_the_cluster_wald_test():
    clusters = ["u1", "u1", "u2", "u2", "u3"]
    boot = ClusterBootstrap(clusters, seed=0)
    est = causal_effect(WITH, WITHOUT, kind="injection", clusters=clusters, boot=boot)
    assert est.estimate == pytest.approx(1.0) and est.extra["n_clusters"] == 3
    assert "Wald test" in est.method and "by injection" in est.method
    # cluster means of d: u1 (1+2)/2, u2 (0+2)/2, u3 0 -> the bootstrap mean is a ratio of sums; the
    # interval must lie within [min, max] of per-cluster means weighted by size: [0, 1.5]
    assert 0 <= est.ci_low <= 1.0 <= est.ci_high <= 1.5
    assert 0 < est.p_value < 1


def test_causal_effect_edge_cases():
    assert causal_effect([], [], kind="ablation").reason.startswith("no ablation pairs")
    same = causal_effect([4, 4, 4], [3, 3, 3], kind="ablation")
    assert same.estimate == 1.0 and same.ci_low == same.ci_high == 1.0 and same.p_value is None
    assert "identical" in same.reason
    zero = causal_effect([3, 3], [3, 3], kind="injection")
    assert zero.estimate == 0 and zero.extra["p_value_wilcoxon"] is None


def test_observational_minus_causal_hand_worked():
    # observational: mean(5, 4) - mean(3, 3) = 1.5; causal: mean(WITH - WITHOUT) = 1.0; gap 0.5
    ratings, mention, clusters = [5, 4, 3, 3], [True, True, False, False], ["u1", "u2", "u3", "u4"]
    boot = ClusterBootstrap(clusters + ["u5"], seed=0)
    pair_clusters = ["u1", "u2", "u3", "u4", "u5"]
    est = observational_minus_causal(ratings, mention, clusters, WITH, WITHOUT, pair_clusters, kind="ablation", boot=boot)
    assert est.estimate == pytest.approx(0.5)
    # 5 users: a resample misses every mention user (or every other one) in (3/5)^5 + (3/5)^5 = 15.6% of
    # draws, more than the 10% the one validity rule allows: no interval, and it says why
    assert est.ci_low is None and "resamples" in est.reason
    assert "jointly" in est.method and est.extra["n_clusters"] == 5
    # the same data repeated for 10 users per group: every resample defines it, the interval holds 0.5
    users = [f"u{i}" for i in range(50)]
    many = observational_minus_causal(ratings * 10, mention * 10, users[:40], WITH * 10, WITHOUT * 10, users,
                                      kind="ablation", boot=ClusterBootstrap(users, seed=0))
    assert many.estimate == pytest.approx(0.5) and many.ci_low <= 0.5 <= many.ci_high
    missing = observational_minus_causal([4, 4], [True, True], ["a", "b"], [4], [3], ["a"], kind="ablation",
                                         boot=ClusterBootstrap(["a", "b"], seed=0))
    assert missing.estimate is None and missing.reason


def test_bootstrap_interval_covers_a_planted_effect():
    # 40 users x 2 items; d = 1 + noise: the 95% interval must contain 1 and exclude 0
    rng = np.random.default_rng(7)
    n = 80
    without = rng.integers(2, 4, n).astype(float)
    with_ = without + 1 + rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], n)
    clusters = [f"u{i // 2}" for i in range(n)]
    est = causal_effect(with_, without, kind="ablation", clusters=clusters, boot=ClusterBootstrap(clusters, seed=3))
    assert est.ci_low < 1 < est.ci_high and est.ci_low > 0
    assert math.isclose(est.estimate, float(np.mean(with_ - without)))
