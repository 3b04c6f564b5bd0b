"""audit.stats.measure: every number on a small hand-worked dataset, CI / p-value behaviour, seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audit.stats import measure
from audit.stats.bootstrap import ClusterBootstrap, percentile_ci

# The hand-worked dataset: six items, a judge's rating, the mean human rating, the mention flag.
J = np.array([4, 5, 3, 4, 2, 5], float)
H = np.array([3, 4, 3, 3, 2, 4], float)
M = np.array([True, True, False, False, False, True])
# d = J - H = (1, 1, 0, 1, 0, 1)


def test_inflation_hand_worked():
    est = measure.inflation(J, H)
    # mean(d) = 4/6
    assert est.estimate == pytest.approx(4 / 6)
    assert est.n == 6
    # paired t-test: sd(d) = sqrt(((1/3)^2 * 4 + (2/3)^2 * 2) / 5) = sqrt(12/45); t = (2/3) / (sd / sqrt 6)
    t = (2 / 3) / (math.sqrt(12 / 45) / math.sqrt(6))
    assert t == pytest.approx(3.1623, abs=1e-4)
    assert est.p_value == pytest.approx(2 * stats.t.sf(t, 5))
    assert est.p_value == pytest.approx(stats.ttest_rel(J, H).pvalue)
    assert "paired t-test" in est.method and "cluster bootstrap" in est.method
    lo, hi = est.ci_low, est.ci_high
    assert 0 <= lo <= est.estimate <= hi <= 1  # every resampled mean of 0/1 differences is in [0, 1]


def test_inflation_ci_equals_an_explicit_bootstrap_loop():
    boot = ClusterBootstrap(range(6), n_reps=300, seed=11)
    est = measure.inflation(J, H, clusters=range(6), boot=boot)
    d = J - H
    reps = []
    for b in range(300):
        idx = np.repeat(np.arange(6), boot.counts[b])  # cluster labels "0".."5" sort like the items
        reps.append(d[idx].mean())
    lo, hi, _ = percentile_ci(np.array(reps))
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo), pytest.approx(hi))


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # d | mention = (1, 1, 1) has no variance
def test_mention_delta_and_excess_uplift_hand_worked():
    md = measure.mention_delta(J, M)
    # judge: mean(4, 5, 5) - mean(3, 4, 2) = 14/3 - 3 = 5/3
    assert md.estimate == pytest.approx(5 / 3)
    assert md.extra["n_mention"] == 3 and md.extra["n_no_mention"] == 3
    assert md.p_value == pytest.approx(stats.ttest_ind(J[M], J[~M], equal_var=False).pvalue)
    up = measure.excess_mention_uplift(J, H, M)
    # humans: mean(3, 4, 4) - mean(3, 3, 2) = 11/3 - 8/3 = 1; uplift = 5/3 - 1 = 2/3
    assert up.extra["judge_delta"] == pytest.approx(5 / 3)
    assert up.extra["human_delta"] == pytest.approx(1.0)
    assert up.estimate == pytest.approx(2 / 3)
    # = mean(d | mention) - mean(d | none) = 1 - 1/3
    assert up.p_value == pytest.approx(stats.ttest_ind((J - H)[M], (J - H)[~M], equal_var=False).pvalue)


def test_mention_slope_equals_uplift_with_one_generator_and_pingouin_with_several():
    import pingouin as pg

    one = measure.mention_slope(J, H, M)
    assert one.estimate == pytest.approx(2 / 3)  # the binary-regressor slope is the difference of means
    rng = np.random.default_rng(5)
    n = 80
    j, h = rng.integers(1, 6, n).astype(float), rng.integers(1, 6, n).astype(float)
    m = rng.random(n) < 0.4
    gen = rng.choice(["g1", "g2", "g3"], n)
    est = measure.mention_slope(j, h, m, gen)
    X = pd.concat([pd.DataFrame({"mention": m.astype(float)}),
                   pd.get_dummies(pd.Series(gen), drop_first=True, dtype=float)], axis=1)
    ref = pg.linear_regression(X, j - h)
    row = ref[ref["names"] == "mention"].iloc[0]
    assert est.estimate == pytest.approx(row["coef"], abs=1e-9)
    assert est.p_value == pytest.approx(row["pval"], abs=1e-9)
    assert est.extra["n_generators"] == 3


def test_mention_slope_without_within_generator_variation():
    est = measure.mention_slope(J, H, M, ["a", "a", "b", "b", "b", "a"])  # generator a always mentions
    assert est.estimate is None and "does not vary" in est.reason


def test_no_better_rate_hand_worked():
    est = measure.no_better_rate(H)  # H <= 3 for items 1, 3, 4, 5 -> 4/6
    assert est.estimate == pytest.approx(4 / 6)
    assert est.extra["k"] == 4 and est.p_value is None
    assert 0 <= est.ci_low <= est.estimate <= est.ci_high <= 1


def test_rank_correlations_match_scipy():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 50).astype(float)
    y = np.clip(x + rng.integers(-1, 2, 50), 1, 5)
    s = measure.rank_correlation(x, y)
    k = measure.rank_correlation(x, y, method="kendall")
    assert s.estimate == pytest.approx(stats.spearmanr(x, y).statistic)
    assert s.p_value == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert k.estimate == pytest.approx(stats.kendalltau(x, y).statistic)
    assert s.ci_low < s.estimate < s.ci_high
    with pytest.raises(ValueError):
        measure.rank_correlation(x, y, method="pearson")


def test_seed_reproducible_and_changes_the_interval():
    rng = np.random.default_rng(0)
    j, h, m = rng.integers(1, 6, 60).astype(float), rng.integers(1, 6, 60).astype(float), rng.random(60) < 0.5
    a = measure.inflation(j, h, seed=1).to_dict()
    assert a == measure.inflation(j, h, seed=1).to_dict()
    b = measure.inflation(j, h, seed=2).to_dict()
    assert a["estimate"] == b["estimate"] and a["p_value"] == b["p_value"] and a["ci"] != b["ci"]
    assert "seed 1" in a["method"] and "seed 2" in b["method"]
    d = measure.mention_delta(j, m, seed=1).to_dict()
    assert d == measure.mention_delta(j, m, seed=1).to_dict()
    assert d["ci"] != measure.mention_delta(j, m, seed=2).to_dict()["ci"]


def test_clustered_items_use_the_wald_test_with_cluster_df():
    from audit.stats.bootstrap import wald_p_value

    users = ["u1", "u1", "u2", "u2", "u3", "u3"]
    boot = ClusterBootstrap(users, n_reps=400, seed=0)
    est = measure.inflation(J, H, clusters=users, boot=boot)
    assert est.extra["n_clusters"] == 3
    assert "Wald test" in est.method and "2 df" in est.method
    d = J - H
    reps = np.array([np.repeat(d.reshape(3, 2), boot.counts[b], axis=0).mean() for b in range(400)])
    assert est.p_value == pytest.approx(wald_p_value(4 / 6, reps, 2))


def test_edge_cases_give_reasons_not_errors():
    assert measure.inflation([], []).reason == "no items with both ratings"
    one = measure.inflation([4], [3])
    assert one.estimate == 1 and one.ci_low is None and "fewer than 2" in one.reason
    same = measure.inflation([4, 5, 3], [3, 4, 2])
    assert same.ci_low == same.ci_high == 1 and same.p_value is None and "identical" in same.reason
    assert measure.mention_delta(J, np.ones(6, bool)).reason == "needs items both with and without a mention"
    assert "constant" in measure.rank_correlation([3, 3, 3, 3], [1, 2, 3, 4]).reason
    assert measure.no_better_rate([]).reason == "no items"


def test_estimate_dict_shape_is_stable():
    d = measure.inflation(J, H).to_dict()
    for key in ("estimate", "ci", "p_value", "n", "method", "n_clusters", "n_boot_valid"):
        assert key in d
    assert "reason" not in d and len(d["ci"]) == 2


def test_pingouin_intervals_are_not_rounded():
    # pingouin rounds CI95 to 2 decimals unless told otherwise; inside unrounded_pingouin() it must not
    import pingouin as pg

    from audit.stats.estimate import pingouin_ci, unrounded_pingouin

    d = J - H
    half = stats.t.ppf(0.975, 5) * d.std(ddof=1) / math.sqrt(6)
    with unrounded_pingouin():
        lo, hi = pingouin_ci(pg.ttest(J, H, paired=True))
    assert lo == pytest.approx(d.mean() - half, abs=1e-12) and hi == pytest.approx(d.mean() + half, abs=1e-12)
    rounded = pingouin_ci(pg.ttest(J, H, paired=True))  # the rounding option is restored afterwards
    assert rounded[0] == round(rounded[0], 2)


def test_holm_hand_worked():
    # p sorted: .01 * 3 = .03 ; .03 * 2 = .06 ; .04 * 1 = .04 -> monotone: .03, .06, .06
    out = measure.holm({"a": 0.01, "b": 0.04, "c": None, "d": 0.03})
    assert out == {"a": pytest.approx(0.03), "b": pytest.approx(0.06), "c": None, "d": pytest.approx(0.06)}
    assert measure.holm({"a": None}) == {"a": None}


def test_habit_bias_exact_permutation_p_value():
    h = {"m1": 0.1, "m2": 0.5, "m3": 0.3, "m4": 0.9}
    d = {"m1": 0.0, "m2": 0.4, "m3": 0.1, "m4": 0.5}
    out = measure.habit_bias(h, d)
    # perfectly monotone: |rho| = 1 for 2 of the 4! = 24 pairings -> p = 2/24
    assert out["estimate"] == out["spearman_r"] == pytest.approx(1.0)
    assert out["p_value"] == pytest.approx(2 / 24)
    assert "exact permutation test over all 24 pairings" in out["method"]
    assert out["n_models"] == out["n"] == 4


def test_habit_bias_p_value_equals_brute_force_enumeration():
    rng = np.random.default_rng(8)
    names = [f"m{i}" for i in range(6)]
    h = dict(zip(names, rng.random(6)))
    d = dict(zip(names, rng.random(6)))
    out = measure.habit_bias(h, d)
    x = np.array([h[m] for m in sorted(names)])
    y = np.array([d[m] for m in sorted(names)])
    r = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(x[list(p)], y).statistic for p in itertools.permutations(range(6))]
    p = np.mean(np.abs(perms) >= abs(r) - 1e-12)
    assert out["p_value"] == pytest.approx(p)
    assert out["ci"][0] <= out["estimate"] <= out["ci"][1]


def test_habit_bias_refuses_below_three_models_and_goes_monte_carlo_above_eight():
    out = measure.habit_bias({"a": 0.1, "b": 0.2}, {"a": 0.3, "b": 0.1})
    assert out["estimate"] is None and "at least 3 models" in out["reason"]
    names = [f"m{i}" for i in range(9)]
    rng = np.random.default_rng(1)
    big = measure.habit_bias(dict(zip(names, rng.random(9))), dict(zip(names, rng.random(9))), seed=3)
    assert "Monte Carlo permutation test (9999 seeded pairings)" in big["method"]
    # the Monte Carlo p-value is within Monte Carlo error of the exact one, enumerated here over all
    # 9! = 362,880 pairings (two-sided as scipy.stats.permutation_test: 2 min(P(<=), P(>=)), at most 1)
    from itertools import permutations

    from scipy.stats import rankdata

    h_rank = rankdata([dict(zip(names, np.random.default_rng(1).random(9)))[m] for m in sorted(names)])
    rng2 = np.random.default_rng(1)
    rng2.random(9)
    d_vals = dict(zip(names, rng2.random(9)))
    d_rank = rankdata([d_vals[m] for m in sorted(names)])
    perms = np.array(list(permutations(range(9))), dtype=np.int8)
    hc, dc = h_rank - 5.0, d_rank - 5.0  # ranks 1..9 centred
    rhos = (hc[None, :] * dc[perms]).sum(axis=1) / np.sqrt((hc**2).sum() * (dc**2).sum())
    observed = (hc * dc).sum() / np.sqrt((hc**2).sum() * (dc**2).sum())
    assert big["estimate"] == pytest.approx(observed)
    q = min(np.mean(rhos <= observed + 1e-12), np.mean(rhos >= observed - 1e-12))  # the smaller one-sided p
    exact = min(1.0, 2 * q)
    se = 2 * math.sqrt(q * (1 - q) / 9999)  # Monte Carlo SE of 2 q-hat from 9999 pairings
    assert abs(big["p_value"] - exact) < 4 * se + 2 / 9999
    again = measure.habit_bias(dict(zip(names, np.random.default_rng(1).random(9))), d_vals, seed=3)
    assert again["p_value"] == big["p_value"]  # seeded
