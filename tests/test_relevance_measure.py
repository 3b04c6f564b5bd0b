"""Every relevance statistic on a small dataset whose answers were computed by hand.

Eight (attribute, prompt) pairs from three users, labelled by four annotators (D skipped p6) and
a judge J that says "relevant" whenever the attribute shares a word with the prompt:

pair user  A B C D   k/m   majority (ties -> not relevant)   J
p1   u1    1 1 1 0   3/4   1                                 1
p2   u1    0 0 0 0   0/4   0                                 0
p3   u1    1 1 0 0   2/4   tie -> 0                          1
p4   u2    1 1 1 1   4/4   1                                 1
p5   u2    0 1 0 0   1/4   0                                 0
p6   u2    1 0 0 -   1/3   0                                 0
p7   u3    0 0 0 0   0/4   0                                 0
p8   u3    1 1 1 0   3/4   1                                 1
"""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from audit.stats import relevance as rm

USERS = ["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3"]
HUMANS = {  # annotator -> labels p1..p8 (None = did not label)
    "annotator-A": [1, 0, 1, 1, 0, 1, 0, 1],
    "annotator-B": [1, 0, 1, 1, 1, 0, 0, 1],
    "annotator-C": [1, 0, 0, 1, 0, 0, 0, 1],
    "annotator-D": [0, 0, 0, 1, 0, None, 0, 0],
}
J = [1, 0, 1, 1, 0, 0, 0, 1]
K = [3, 0, 2, 4, 1, 1, 0, 3]
M = [4, 4, 4, 4, 4, 3, 4, 4]
Z = 1.959963984540054  # the 97.5% normal quantile


def wilson(k, n):
    """Wilson (1927) score interval, written out: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


def test_columns_match_the_table():
    for i in range(8):
        labels = [HUMANS[a][i] for a in HUMANS if HUMANS[a][i] is not None]
        assert (sum(labels), len(labels)) == (K[i], M[i])


def test_selection_rate_wilson():
    # J marks p1, p3, p4, p8: 4/8 = 0.5. Wilson by hand: centre = (0.5 + 3.8415/16) / 1.4802 = 0.5,
    # half = 1.96 * sqrt(0.03125 + 0.015006) / 1.4802 = 0.28479  ->  [0.21521, 0.78479]
    est = rm.selection_rate(np.array(J, bool))
    assert est.estimate == 0.5 and est.n == 8 and est.extra["k"] == 4
    assert (est.ci_low, est.ci_high) == pytest.approx(wilson(4, 8), abs=1e-9)
    assert (est.ci_low, est.ci_high) == pytest.approx((0.21521, 0.78479), abs=1e-5)
    assert "Wilson" in est.method


def test_human_selection_rate_counts_labels():
    # 14 of the 31 human labels say relevant
    est = rm.human_selection_rate(K, M)
    assert est.estimate == pytest.approx(14 / 31)
    assert est.n == 31 and est.extra["k"] == 14 and est.extra["n_pairs"] == 8
    assert (est.ci_low, est.ci_high) == pytest.approx(wilson(14, 31), abs=1e-9)


@pytest.mark.parametrize("ties, expected", [
    ("irrelevant", [1, 0, 0, 1, 0, 0, 0, 1]),
    ("relevant", [1, 0, 1, 1, 0, 0, 0, 1]),
    ("exclude", [1, 0, np.nan, 1, 0, 0, 0, 1]),
])
def test_majority_and_ties(ties, expected):
    np.testing.assert_array_equal(rm.majority_label(K, M, ties), np.array(expected, float))


def test_majority_without_labels_is_undefined_and_bad_rule_raises():
    assert np.isnan(rm.majority_label([0], [0])[0])
    with pytest.raises(ValueError):
        rm.majority_label(K, M, "coin")


def test_over_selection_ratio_by_hand():
    # judge rate 4/8, human rate 14/31  ->  ratio = 0.5 * 31 / 14 = 31/28 = 1.10714
    est = rm.over_selection_ratio(J, K, M, USERS, n_resamples=2000, seed=0)
    assert est.estimate == pytest.approx(31 / 28)
    assert est.extra["judge_rate"] == 0.5 and est.extra["human_rate"] == pytest.approx(14 / 31)
    assert est.extra["n_clusters"] == 3 and est.n == 8
    assert est.ci_low <= est.estimate <= est.ci_high
    assert 0 < est.p_value <= 1


def _cluster_resample_values():
    """Every value the ratio can take when the 3 USERS (not the pairs) are resampled with replacement.

    Per-user sums (judge selected, pairs, human relevant labels, human labels):
    u1 (2, 3, 5, 12), u2 (1, 3, 6, 11), u3 (1, 2, 3, 8).
    """
    per = {"u1": (2, 3, 5, 12), "u2": (1, 3, 6, 11), "u3": (1, 2, 3, 8)}
    values = set()
    for combo in itertools.combinations_with_replacement(per, 3):
        s = np.sum([per[u] for u in combo], axis=0)
        values.add(round((s[0] / s[1]) / (s[2] / s[3]), 12))
    return values


def test_ratio_bootstrap_resamples_whole_users():
    # 10 multisets of 3 users -> at most 10 distinct values; resampling pairs would give many more
    allowed = _cluster_resample_values()
    per = rm.cluster_sums(np.column_stack([J, np.ones(8), K, M]).astype(float), USERS)
    np.testing.assert_array_equal(per, [[2, 3, 5, 12], [1, 3, 6, 11], [1, 2, 3, 8]])
    dist = rm.bootstrap_sums(per, rm._ratio, n_resamples=500, seed=3)
    assert {round(float(v), 12) for v in dist} <= allowed
    assert len({round(float(v), 12) for v in dist}) > 3  # it does resample
    est = rm.over_selection_ratio(J, K, M, USERS, n_resamples=500, seed=3)
    assert min(allowed) <= est.ci_low <= est.ci_high <= max(allowed)


def test_bootstrap_is_seeded():
    a = rm.over_selection_ratio(J, K, M, USERS, n_resamples=300, seed=7)
    b = rm.over_selection_ratio(J, K, M, USERS, n_resamples=300, seed=7)
    c = rm.over_selection_ratio(J, K, M, USERS, n_resamples=300, seed=8)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert "seed=7" in a.method and "B=300" in a.method
    # the CI endpoints can coincide (only 10 distinct values); the replicates themselves differ
    per = rm.cluster_sums(np.column_stack([J, np.ones(8), K, M]).astype(float), USERS)
    d7, d7b, d8 = (rm.bootstrap_sums(per, rm._ratio, n_resamples=300, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(d7, d7b)
    assert not np.array_equal(d7, d8)
    # each interval is the 2.5/97.5 percentiles of its own seed's replicates (numpy, here)
    for est, reps in ((a, d7), (c, d8)):
        lo, hi = np.percentile(reps[np.isfinite(reps)], [2.5, 97.5])
        assert (est.ci_low, est.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert "seed=8" in c.method


def test_ratio_undefined_and_too_few_users():
    est = rm.over_selection_ratio([1, 0], [0, 0], [3, 3], ["u1", "u2"])
    assert est.estimate is None and "no pair relevant" in est.reason
    est = rm.over_selection_ratio([1, 0], [1, 1], [2, 2], ["u1", "u2"])
    assert est.estimate == pytest.approx(0.5 / 0.5) and est.ci_low is None and "2 users" in est.reason


def test_ratio_p_value_small_when_judge_selects_far_more():
    # 9 users x 4 pairs; humans mark 1 of 4 labels relevant on 1 pair per user, the judge marks 3 of 4 pairs
    users = [f"u{i}" for i in range(9) for _ in range(4)]
    judge = [1, 1, 1, 0] * 9
    k, m = [1, 0, 0, 0] * 9, [4, 4, 4, 4] * 9
    est = rm.over_selection_ratio(judge, k, m, users, n_resamples=1000)
    assert est.estimate == pytest.approx(0.75 / (9 / 144))  # = 12
    assert est.ci_low == est.ci_high == pytest.approx(12)  # every user is identical
    assert est.p_value == pytest.approx(2 / 1001)  # no resample at or below 1


@pytest.mark.parametrize("ties, tp, fp, fn, p, r, f1, n", [
    # ties -> not relevant: positives p1 p4 p8; J adds p3  ->  tp 3, fp 1, fn 0
    ("irrelevant", 3, 1, 0, 3 / 4, 1.0, 6 / 7, 8),
    # ties -> relevant: p3 becomes a positive              ->  tp 4, fp 0, fn 0
    ("relevant", 4, 0, 0, 1.0, 1.0, 1.0, 8),
    # ties excluded: p3 left out                           ->  tp 3, fp 0, fn 0 on 7 pairs
    ("exclude", 3, 0, 0, 1.0, 1.0, 1.0, 7),
])
def test_precision_recall_f1_by_hand(ties, tp, fp, fn, p, r, f1, n):
    truth = rm.majority_label(K, M, ties)
    out = rm.precision_recall_f1(J, truth, USERS, n_resamples=500)
    assert out["precision"].estimate == pytest.approx(p)
    assert out["recall"].estimate == pytest.approx(r)
    assert out["f1"].estimate == pytest.approx(f1)
    assert out["f1"].n == n
    assert {k: out["f1"].extra[k] for k in ("tp", "fp", "fn")} == {"tp": tp, "fp": fp, "fn": fn}
    keep = ~np.isnan(truth)
    y, x = truth[keep].astype(int), np.array(J)[keep]
    assert out["precision"].estimate == pytest.approx(precision_score(y, x))  # reference implementation
    assert out["recall"].estimate == pytest.approx(recall_score(y, x))
    assert out["f1"].estimate == pytest.approx(f1_score(y, x))
    for name in ("precision", "recall", "f1"):
        est = out[name]
        assert est.ci_low is not None and est.ci_low <= est.estimate + 1e-12 and est.ci_high >= est.estimate - 1e-12


def test_prf_bootstrap_resamples_users():
    # per user (tp, fp, fn): u1 (1, 1, 0), u2 (1, 0, 0), u3 (1, 0, 0); F1 over any multiset of users
    per = {"u1": (1, 1, 0), "u2": (1, 0, 0), "u3": (1, 0, 0)}
    allowed = set()
    for combo in itertools.combinations_with_replacement(per, 3):
        tp, fp, fn = np.sum([per[u] for u in combo], axis=0)
        allowed.add(round(2 * tp / (2 * tp + fp + fn), 12))
    # 3 tp always; fp = times u1 is drawn: F1 = 6 / (6 + fp) = 1 (no u1), 6/7, 6/8, 6/9 (u1 thrice)
    assert allowed == {1.0, round(6 / 7, 12), round(3 / 4, 12), round(2 / 3, 12)}
    truth = rm.majority_label(K, M)
    cols = np.column_stack([(np.array(J) == 1) & (truth == 1), (np.array(J) == 1) & (truth == 0),
                            (np.array(J) == 0) & (truth == 1)]).astype(float)
    dist = rm.bootstrap_sums(rm.cluster_sums(cols, USERS), rm._f1, n_resamples=400, seed=0)
    assert {round(float(v), 12) for v in dist} <= allowed
    f1 = rm.precision_recall_f1(J, truth, USERS, n_resamples=400)["f1"]
    assert 2 / 3 <= f1.ci_low <= f1.ci_high <= 1.0


def test_prf_undefined_cases():
    truth = np.array([0.0, 0.0, 1.0, 0.0])
    out = rm.precision_recall_f1([0, 0, 0, 0], truth, ["a", "b", "c", "d"], n_resamples=200)
    assert out["precision"].estimate is None and "no pair was predicted relevant" in out["precision"].reason
    assert out["recall"].estimate == 0.0 and out["f1"].estimate == 0.0
    out = rm.precision_recall_f1([0, 0], [0.0, 0.0], ["a", "b"])
    assert out["recall"].estimate is None and out["f1"].estimate is None
    assert out["precision"].estimate is None


def _long():
    rows = [(f"p{i + 1}", a, bool(v)) for a, labs in HUMANS.items() for i, v in enumerate(labs) if v is not None]
    rows += [(f"p{i + 1}", "J", bool(v)) for i, v in enumerate(J)]
    return pd.DataFrame(rows, columns=["pair_id", "rater", "relevant"])


def test_kappa_by_hand_and_against_sklearn():
    groups = {a: "human" for a in HUMANS} | {"J": "judge"}
    out = rm.kappa_summary(_long(), groups, {f"p{i + 1}": u for i, u in enumerate(USERS)}, n_resamples=300)
    idx = {r: i for i, r in enumerate(out["raters"])}
    mat = out["kappa_matrix"]
    # J vs A: they differ only on p6 -> po = 7/8; A says relevant 5/8, J 4/8 -> pe = 5/8*4/8 + 3/8*4/8 = 1/2
    # kappa = (7/8 - 1/2) / (1 - 1/2) = 0.75
    assert mat[idx["J"]][idx["annotator-A"]] == pytest.approx(0.75)
    # A vs B: differ on p5, p6 -> po = 6/8; both 5/8 relevant -> pe = 25/64 + 9/64 = 34/64
    # kappa = (48/64 - 34/64) / (30/64) = 14/30 = 7/15
    assert mat[idx["annotator-A"]][idx["annotator-B"]] == pytest.approx(7 / 15)
    # D skipped p6: its kappas use the 7 pairs it labelled
    assert out["n_matrix"][idx["annotator-A"]][idx["annotator-D"]] == 7
    assert out["n_matrix"][idx["annotator-D"]][idx["annotator-D"]] == 7
    assert mat[idx["J"]][idx["J"]] is None
    wide = _long().pivot(index="pair_id", columns="rater", values="relevant")
    ref = {}
    for a, b in itertools.combinations(out["raters"], 2):
        both = wide[[a, b]].dropna()
        ref[(a, b)] = cohen_kappa_score(both[a].astype(int), both[b].astype(int), labels=[0, 1])
        assert mat[idx[a]][idx[b]] == pytest.approx(ref[(a, b)], abs=1e-12)
    hh = [v for (a, b), v in ref.items() if a != "J" and b != "J"]
    hj = [v for (a, b), v in ref.items() if "J" in (a, b)]
    assert out["mean_within_humans"]["estimate"] == pytest.approx(np.mean(hh))
    assert out["mean_within_humans"]["n_pairs"] == 6
    assert out["mean_human_judge"]["estimate"] == pytest.approx(np.mean(hj))
    assert out["mean_human_judge"]["n_pairs"] == 4
    assert out["mean_within_judges"]["estimate"] is None  # one judge: no judge pair
    for key in ("mean_within_humans", "mean_human_judge"):
        lo, hi = out[key]["ci"]
        assert lo <= out[key]["estimate"] <= hi


def test_kappa_group_mean_bootstrap_matches_point_estimate_on_full_sample():
    # the bootstrap kernel on the full-sample tables reproduces the point estimates
    from audit.stats.agreement import kappa_from_tables

    t = np.zeros((2, 2))
    for a, b in zip(HUMANS["annotator-A"], J):
        t[a, b] += 1
    assert float(kappa_from_tables(t)) == pytest.approx(0.75)
    tables = np.stack([t, t])[None]  # (1 resample, 2 rater pairs, 2, 2)
    assert rm._group_mean_kappa(tables, ["g", "g"], "g")[0] == pytest.approx(0.75)
    assert np.isnan(rm._group_mean_kappa(tables, ["g", "g"], "other")[0])
