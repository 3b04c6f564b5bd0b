"""audit.stats.agreement: kappa, pairwise kappa, Krippendorff's alpha and the table kernels, checked
against independent implementations (scikit-learn, scipy, the `krippendorff` package) and against
small hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import f as stats_f
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import cohen_kappa_score

from audit.stats.agreement import (
    alpha_from_coincidences,
    coincidence_matrix,
    cohen_kappa,
    kendall_from_tables,
    krippendorff_alpha,
    mean_kappa_by_group,
    pairwise_kappa,
    spearman_from_tables,
)

# scipy / krippendorff warn on the constant inputs these tests include on purpose
pytestmark = pytest.mark.filterwarnings("ignore:An input array is constant", "ignore:invalid value encountered",
                                        "ignore:The inplace keyword")  # pingouin's own pandas deprecation

# --- Cohen's kappa ---------------------------------------------------------------------------


def test_kappa_hand_worked():
    # a = [1,1,2,2], b = [1,2,2,2]: table [[1,1],[0,2]], n = 4.
    # p_o = 3/4; margins a: (2,2)/4, b: (1,3)/4; p_e = .5*.25 + .5*.75 = .5
    # kappa = (p_o - p_e) / (1 - p_e) = .25 / .5 = 0.5
    assert cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]) == pytest.approx(0.5, abs=1e-12)


def test_quadratic_kappa_hand_worked():
    # labels 1..3, a = [1,2,3], b = [1,3,3]; positions 0..2, w = (i-j)^2.
    # observed: one disagreement 2 vs 3 -> w = 1; sum(w*O) = 1/3.
    # margins a = (1,1,1)/3, b = (1,0,2)/3; E = a_i b_j, sum(w*E) = sum_ij (i-j)^2 a_i b_j
    #   = (1/9) * [ (0-0)^2*1 + (0-2)^2*2 + (1-0)^2*1 + (1-2)^2*2 + (2-0)^2*1 + (2-2)^2*2 ]
    #   = (1/9) * (0 + 8 + 1 + 2 + 4 + 0) = 15/9.
    # kappa = 1 - (1/3) / (15/9) = 1 - 3/15 = 0.8
    assert cohen_kappa([1, 2, 3], [1, 3, 3], weights="quadratic") == pytest.approx(0.8, abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_sklearn_on_random_data(weights):
    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(2, 60))
        a = rng.integers(1, 6, n)
        b = np.clip(a + rng.integers(-2, 3, n), 1, 5) if trial % 2 else rng.integers(1, 6, n)
        ref = cohen_kappa_score(a, b, weights=weights, labels=[1, 2, 3, 4, 5])
        ours = cohen_kappa(a, b, weights=weights, labels=[1, 2, 3, 4, 5])
        if math.isnan(ref):
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(ref, abs=1e-9)
        # default labels = sorted union, as scikit-learn
        assert cohen_kappa(a, b, weights=weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-9,
                                                                  nan_ok=True)


def test_kappa_undefined_when_both_constant_on_one_label():
    assert math.isnan(cohen_kappa([3, 3, 3], [3, 3, 3]))
    assert math.isnan(cohen_kappa([], []))


def test_kappa_labels_outside_the_list_are_ignored_like_sklearn():
    a, b = [1, 2, 3, 9], [1, 1, 3, 3]
    assert cohen_kappa(a, b, labels=[1, 2, 3]) == pytest.approx(cohen_kappa_score(a, b, labels=[1, 2, 3]), abs=1e-12)


def test_kappa_rejects_bad_weights_and_shapes():
    with pytest.raises(ValueError):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(ValueError):
        cohen_kappa([1, 2], [1])


# --- pairwise kappa ---------------------------------------------------------------------------


def _long(wide: dict[str, list]) -> pd.DataFrame:
    rows = [(f"i{i}", r, v) for r, vals in wide.items() for i, v in enumerate(vals) if v is not None]
    return pd.DataFrame(rows, columns=["item", "rater", "value"])


def test_pairwise_kappa_uses_items_both_rated():
    df = _long({"A": [1, 1, 2, 2, 5], "B": [1, 2, 2, 2, None], "J": [None, 1, 2, 2, 5]})
    out = pairwise_kappa(df, item_col="item", rater_col="rater", value_col="value", raters=["A", "B", "J"])
    assert list(zip(out.rater_a, out.rater_b)) == [("A", "B"), ("A", "J"), ("B", "J")]
    assert list(out.n_items) == [4, 4, 3]
    # labels are the union of all values {1, 2, 5} for every pair, so plain kappa of A vs B is the
    # hand-worked 0.5 of test_kappa_hand_worked
    assert out.kappa.iloc[0] == pytest.approx(0.5, abs=1e-12)
    # A vs J on items 1..4: identical labels (1,2,2,5) -> kappa 1
    assert out.kappa.iloc[1] == pytest.approx(1.0)
    ref = cohen_kappa_score([2, 2, 2], [1, 2, 2], labels=[1, 2, 5])
    assert out.kappa.iloc[2] == pytest.approx(ref, abs=1e-12)


def test_pairwise_kappa_weighted_matches_sklearn_on_random_data():
    rng = np.random.default_rng(7)
    n_items, raters = 40, ["h1", "h2", "h3", "j1"]
    vals = rng.integers(1, 6, (len(raters), n_items)).astype(float)
    vals[rng.random(vals.shape) < 0.3] = np.nan
    df = pd.DataFrame([(i, r, vals[k, i]) for k, r in enumerate(raters) for i in range(n_items)],
                      columns=["item", "rater", "value"])
    out = pairwise_kappa(df, item_col="item", rater_col="rater", value_col="value", weights="quadratic",
                         labels=[1, 2, 3, 4, 5])
    for ra, rb, k, n in out.itertuples(index=False):
        a, b = vals[raters.index(ra)], vals[raters.index(rb)]
        both = ~np.isnan(a) & ~np.isnan(b)
        assert n == both.sum()
        assert k == pytest.approx(cohen_kappa_score(a[both], b[both], weights="quadratic", labels=[1, 2, 3, 4, 5]),
                                  abs=1e-9)


def test_pairwise_kappa_rejects_duplicate_ratings():
    df = pd.DataFrame({"item": ["x", "x"], "rater": ["A", "A"], "value": [1, 2]})
    with pytest.raises(ValueError, match="more than once"):
        pairwise_kappa(df, item_col="item", rater_col="rater", value_col="value")


def test_mean_kappa_by_group():
    pairs = pd.DataFrame({
        "rater_a": ["h1", "h1", "h2", "h1", "j1", "h2"],
        "rater_b": ["h2", "j1", "j1", "j2", "j2", "j2"],
        "kappa": [0.4, 0.2, 0.3, np.nan, 0.6, 0.1],
    })
    out = mean_kappa_by_group(pairs, {"h1": "human", "h2": "human", "j1": "judge", "j2": "judge"})
    assert out["mean_within_humans"]["estimate"] == pytest.approx(0.4)
    assert out["mean_within_humans"]["n_pairs"] == 1
    assert out["mean_within_judges"]["estimate"] == pytest.approx(0.6)
    # human-judge: 0.2, 0.3, (nan left out), 0.1 -> mean 0.2 over 3 pairs
    assert out["mean_human_judge"]["estimate"] == pytest.approx(0.2)
    assert out["mean_human_judge"]["n_pairs"] == 3
    with pytest.raises(ValueError):
        mean_kappa_by_group(pairs, {"h1": "annotator"})


def test_mean_kappa_by_group_empty_group_is_none():
    pairs = pd.DataFrame({"rater_a": ["h1"], "rater_b": ["h2"], "kappa": [0.5]})
    out = mean_kappa_by_group(pairs, {"h1": "human", "h2": "human"})
    assert out["mean_within_judges"] == {"estimate": None, "n_pairs": 0, "method": out["mean_within_judges"]["method"]}


# --- rank correlations from tables ------------------------------------------------------------


def _table(x, y):
    xs, ys = np.unique(x), np.unique(y)
    t = np.zeros((len(xs), len(ys)))
    np.add.at(t, (np.searchsorted(xs, x), np.searchsorted(ys, y)), 1)
    return t


def test_table_correlations_match_scipy_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(3, 80))
        x = rng.integers(1, 6, n) / 1.0
        y = np.round((x + rng.integers(1, 6, n)) / 2, 1) if rng.random() < 0.7 else rng.integers(1, 4, n) / 1.0
        t = _table(x, y)
        rs, tk = spearmanr(x, y).statistic, kendalltau(x, y).statistic
        assert spearman_from_tables(t) == pytest.approx(rs, abs=1e-9, nan_ok=True)
        assert kendall_from_tables(t) == pytest.approx(tk, abs=1e-9, nan_ok=True)


def test_table_correlations_are_vectorised_over_a_stack():
    rng = np.random.default_rng(4)
    tables = rng.integers(0, 4, (6, 3, 4)).astype(float)
    rho, tau = spearman_from_tables(tables), kendall_from_tables(tables)
    assert rho.shape == tau.shape == (6,)
    for k in range(6):
        assert rho[k] == pytest.approx(spearman_from_tables(tables[k]), nan_ok=True)
        assert tau[k] == pytest.approx(kendall_from_tables(tables[k]), nan_ok=True)


def test_table_kendall_hand_worked():
    # x = (1,2,3), y = (1,3,2): pairs (1,2) C, (1,3) C, (2,3) D -> tau = (2-1)/3
    assert kendall_from_tables(np.eye(3)[[0, 2, 1]]) == pytest.approx(1 / 3)
    # Spearman: ranks (1,2,3) vs (1,3,2): d^2 = 0+1+1 = 2, rho = 1 - 6*2/(3*8) = 0.5
    assert spearman_from_tables(np.eye(3)[[0, 2, 1]]) == pytest.approx(0.5)


# --- Krippendorff's alpha ---------------------------------------------------------------------


def test_alpha_hand_worked_nominal_and_ordinal():
    # Two raters, three units: (1,1), (1,2), (2,2).
    # Coincidences: unit 1 -> o[1,1] += 2; unit 2 -> o[1,2] += 1, o[2,1] += 1; unit 3 -> o[2,2] += 2.
    # o = [[2,1],[1,2]], n_1 = n_2 = 3, n = 6.
    data = np.array([[1, 1, 2], [1, 2, 2]], float)
    o = coincidence_matrix(data, [1, 2])
    assert o.tolist() == [[2, 1], [1, 2]]
    # nominal: D_o = o_12 + o_21 = 2; D_e = n_1 n_2 + n_2 n_1 = 18; alpha = 1 - (n-1) 2/18 = 1 - 10/18 = 4/9
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(4 / 9)
    # ordinal with two values: delta2_12 = (n_1 + n_2 - (n_1 + n_2)/2)^2 = 9, the same for both
    # disagreement cells, so alpha is again 1 - 5 * (2*9)/(18*9) = 4/9
    assert krippendorff_alpha(data, level="ordinal") == pytest.approx(4 / 9)


@pytest.mark.parametrize("level", ["ordinal", "nominal", "interval"])
def test_alpha_matches_krippendorff_package_on_random_data(level):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(11)
    for _ in range(100):
        raters, units = int(rng.integers(2, 7)), int(rng.integers(3, 40))
        base = rng.integers(1, 6, units)
        data = np.clip(base + rng.integers(-1, 2, (raters, units)), 1, 5).astype(float)
        data[rng.random(data.shape) < 0.3] = np.nan
        values = [1, 2, 3, 4, 5]
        ours = krippendorff_alpha(data, values=values, level=level)
        try:
            ref = krippendorff.alpha(reliability_data=data, value_domain=values, level_of_measurement=level)
        except ValueError:  # the package refuses data with a single value; ours returns NaN
            assert math.isnan(ours)
            continue
        assert ours == pytest.approx(ref, abs=1e-9, nan_ok=True)


def test_alpha_vectorised_over_a_stack_of_coincidence_matrices():
    rng = np.random.default_rng(2)
    stack = []
    for _ in range(5):
        data = rng.integers(1, 6, (3, 20)).astype(float)
        stack.append(coincidence_matrix(data, [1, 2, 3, 4, 5]))
    alphas = alpha_from_coincidences(np.stack(stack))
    for k in range(5):
        assert alphas[k] == pytest.approx(alpha_from_coincidences(stack[k]))


def test_alpha_rejects_values_outside_the_domain():
    with pytest.raises(ValueError, match="not in the value domain"):
        krippendorff_alpha(np.array([[1, 7], [1, 2]], float), values=[1, 2, 3])


# --- agreement_measures: judge vs humans, ceiling, lens, matrix, alpha, ICC ----------------------

from audit.stats.agreement_suite import agreement_suite
from audit.stats.reliability import icc_estimate
from audit.stats.comparisons import round_half_to_midpoint
from audit.stats.bootstrap import ClusterBootstrap  # noqa: E402

# Hand-worked: four items (each its own cluster), annotators A, B, C, one judge J whose item
# rating is a mean over two orders (hence the .5 values).
#   A = 1, 3, 5, 4     B = 2, 3, 4, 4     C = 1, 4, 5, -     J = 2, 3.5, 5, 4.5
HAND = {"A": [1, 3, 5, 4], "B": [2, 3, 4, 4], "C": [1, 4, 5, None]}
HAND_J = [2, 3.5, 5, 4.5]


def _hand_suite(n_reps: int = 200):
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4"], "cluster": ["i1", "i2", "i3", "i4"]})
    human = pd.DataFrame([(f"i{k + 1}", a, v) for a, vals in HAND.items() for k, v in enumerate(vals) if v is not None],
                         columns=["item_id", "annotator", "rating"])
    judges = pd.DataFrame({"J": HAND_J}, index=pd.Index(items["item_id"], name="item_id"))
    boot = ClusterBootstrap(items["cluster"], n_reps=n_reps, seed=0)
    return agreement_suite(items, human, judges, boot=boot)


def test_round_half_to_midpoint():
    got = round_half_to_midpoint([1.5, 2.5, 3.5, 4.5, 2.4, 2.6, 3.4, 3.6, 1.0, 5.0, 3.0])
    assert got.tolist() == [2, 3, 3, 4, 2, 3, 3, 4, 1, 5, 3]


def test_judge_agreement_hand_worked():
    j = _hand_suite()["judges"]["J"]
    # rounded judge (half toward 3) = 2, 3, 5, 4 ; rounded human median = 1, 3, 5, 4
    assert j["exact_agreement"]["estimate"] == pytest.approx(3 / 4)
    # signs: judge (-, 0, +, +), humans (-, 0, +, +)
    assert j["sign_accuracy"]["estimate"] == pytest.approx(1.0)
    # quadratic kappa: sum(w O) = 1/4 (one cell, distance 1); label positions judge {1,2,4,3},
    # humans {0,2,4,3}; sum(w E) = (15 + 9 + 21 + 11) / 16 = 3.5 -> kappa = 1 - (1/4)/3.5 = 13/14
    assert j["kappa_quadratic"]["estimate"] == pytest.approx(13 / 14)
    assert j["kappa_quadratic"]["estimate"] == pytest.approx(
        cohen_kappa_score([2, 3, 5, 4], [1, 3, 5, 4], weights="quadratic", labels=[1, 2, 3, 4, 5]))
    # rank order of judge (2, 3.5, 5, 4.5) and human mean (4/3, 10/3, 14/3, 4) is identical
    assert j["spearman"]["estimate"] == pytest.approx(1.0)
    assert j["kendall"]["estimate"] == pytest.approx(1.0)


def test_ceiling_and_matched_hand_worked():
    out = _hand_suite()
    ceil = out["ceiling"]
    # leave-one-out targets (others' median, rounded half toward 3):
    #   A: others (B, C) -> 1.5, 3.5, 4.5, 4 -> 2, 3, 4, 4 ; A = 1, 3, 5, 4 -> exact 2/4, sign 4/4
    #   B: others (A, C) -> 1, 3.5, 5, 4 -> 1, 3, 5, 4     ; B = 2, 3, 4, 4 -> exact 2/4, sign 4/4
    #   C: others (A, B) -> 1.5, 3, 4.5 -> 2, 3, 4          ; C = 1, 4, 5    -> exact 0/3, sign 2/3
    assert ceil["per_annotator"]["A"]["exact_agreement"]["estimate"] == pytest.approx(0.5)
    assert ceil["per_annotator"]["C"]["sign_accuracy"]["estimate"] == pytest.approx(2 / 3)
    assert ceil["exact_agreement"]["estimate"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert ceil["sign_accuracy"]["estimate"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    # the judge (rounded 2, 3, 5, 4) on the same targets: A's 3/4, B's 3/4, C's (items 1-3) 2/3
    j = out["judges"]["J"]
    matched = (0.75 + 0.75 + 2 / 3) / 3
    assert j["matched"]["exact_agreement"]["estimate"] == pytest.approx(matched)
    assert j["ceiling_gap"]["exact_agreement"]["estimate"] == pytest.approx(matched - 1 / 3)


def test_individual_lens_hand_worked():
    j = _hand_suite()["judges"]["J"]
    per = j["per_annotator"]
    # judge rounded 2, 3, 5, 4 vs A 1, 3, 5, 4 (3/4), B 2, 3, 4, 4 (3/4), C 1, 4, 5 (1/3)
    assert per["A"]["exact_agreement"]["estimate"] == pytest.approx(3 / 4)
    assert per["B"]["exact_agreement"]["estimate"] == pytest.approx(3 / 4)
    assert per["C"]["exact_agreement"]["estimate"] == pytest.approx(1 / 3)
    kap = {a: cohen_kappa_score([2, 3, 5, 4][:len(v)], [x for x in v if x is not None], weights="quadratic",
                                labels=[1, 2, 3, 4, 5])
           for a, v in {"A": HAND["A"], "B": HAND["B"], "C": HAND["C"][:3]}.items()}
    for a in kap:
        assert per[a]["kappa_quadratic"]["estimate"] == pytest.approx(kap[a])
    assert j["best_fit_annotator"] == max(kap, key=kap.get)
    assert j["spread"]["kappa_quadratic"]["estimate"] == pytest.approx(np.std(list(kap.values()), ddof=1))


def test_kappa_matrix_hand_worked():
    m = _hand_suite()["matrix"]
    assert m["raters"] == ["A", "B", "C", "J"]
    assert m["groups"] == {"A": "human", "B": "human", "C": "human", "J": "judge"}
    q = dict(weights="quadratic", labels=[1, 2, 3, 4, 5])
    ab = cohen_kappa_score(HAND["A"], HAND["B"], **q)
    ac = cohen_kappa_score(HAND["A"][:3], HAND["C"][:3], **q)
    bc = cohen_kappa_score(HAND["B"][:3], HAND["C"][:3], **q)
    aj = cohen_kappa_score(HAND["A"], [2, 3, 5, 4], **q)
    bj = cohen_kappa_score(HAND["B"], [2, 3, 5, 4], **q)
    cj = cohen_kappa_score(HAND["C"][:3], [2, 3, 5], **q)
    k = m["kappa_matrix"]
    assert k[0][1] == k[1][0] == pytest.approx(ab) and k[0][0] == 1.0
    assert k[2][3] == pytest.approx(cj)
    assert m["n_items"][2][3] == 3 and m["n_items"][0][1] == 4
    assert m["mean_within_humans"]["estimate"] == pytest.approx((ab + ac + bc) / 3)
    assert m["mean_within_humans"]["n_pairs"] == 3
    assert m["mean_human_judge"]["estimate"] == pytest.approx((aj + bj + cj) / 3)
    assert m["mean_within_judges"]["estimate"] is None and m["mean_within_judges"]["n_pairs"] == 0


def _random_study(seed: int, n: int = 60, annotators: int = 4, judges: int = 2):
    rng = np.random.default_rng(seed)
    q = rng.normal(3, 1, n)
    rows = []
    for i in range(n):
        for a in rng.choice(annotators, 3, replace=False):
            rows.append((f"i{i}", f"ann-{a}", int(np.clip(np.rint(q[i] + rng.normal(0, 0.8)), 1, 5))))
    human = pd.DataFrame(rows, columns=["item_id", "annotator", "rating"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "cluster": [f"u{i // 3}" for i in range(n)]})
    jt = pd.DataFrame({f"judge-{k}": np.clip(np.rint(2 * (q + 0.4 + rng.normal(0, 0.7, n))) / 2, 1, 5)
                       for k in range(judges)}, index=pd.Index(items["item_id"], name="item_id"))
    jt.iloc[::7, 0] = np.nan  # the first judge skipped some items
    return items, human, jt


def test_suite_matches_independent_computations_on_random_data():
    krippendorff = pytest.importorskip("krippendorff")
    items, human, jt = _random_study(1)
    out = agreement_suite(items, human, jt, boot=ClusterBootstrap(items["cluster"], n_reps=100, seed=0))
    wide = human.pivot(index="item_id", columns="annotator", values="rating").reindex(items["item_id"])
    # judge vs humans
    j = jt["judge-0"].dropna()
    hm, hmed = wide.mean(axis=1)[j.index], wide.median(axis=1)[j.index]
    res = out["judges"]["judge-0"]
    assert res["spearman"]["estimate"] == pytest.approx(spearmanr(j, hm).statistic, abs=1e-12)
    assert "Wald test" in res["spearman"]["method"]  # three items per user: cluster-aware p-value
    assert res["kendall"]["estimate"] == pytest.approx(kendalltau(j, hm).statistic, abs=1e-12)
    jr, hr = round_half_to_midpoint(j), round_half_to_midpoint(hmed)
    assert res["kappa_quadratic"]["estimate"] == pytest.approx(
        cohen_kappa_score(jr, hr, weights="quadratic", labels=[1, 2, 3, 4, 5]), abs=1e-12)
    assert res["exact_agreement"]["estimate"] == pytest.approx(np.mean(jr == hr))
    assert res["sign_accuracy"]["estimate"] == pytest.approx(np.mean(np.sign(jr - 3) == np.sign(hr - 3)))
    assert res["spearman"]["n"] == len(j)
    assert res["spearman"]["n_clusters"] == items.loc[items["item_id"].isin(j.index), "cluster"].nunique()
    # ceiling, annotator by annotator, with pandas
    kappas = []
    for a in wide.columns:
        others = wide.drop(columns=a)
        keep = wide[a].notna() & others.notna().any(axis=1)
        target = round_half_to_midpoint(others[keep].median(axis=1))
        kappas.append(cohen_kappa_score(wide[a][keep], target, weights="quadratic", labels=[1, 2, 3, 4, 5]))
        rho = spearmanr(wide[a][keep], others[keep].mean(axis=1)).statistic
        assert out["ceiling"]["per_annotator"][a]["spearman"]["estimate"] == pytest.approx(rho, abs=1e-12)
    assert out["ceiling"]["kappa_quadratic"]["estimate"] == pytest.approx(np.mean(kappas), abs=1e-12)
    # Krippendorff's alpha against the package
    ref = krippendorff.alpha(reliability_data=wide.to_numpy(float).T, value_domain=[1, 2, 3, 4, 5],
                             level_of_measurement="ordinal")
    assert out["krippendorff_alpha"]["estimate"] == pytest.approx(ref, abs=1e-9)
    lo, hi = out["krippendorff_alpha"]["ci"]
    assert lo < ref < hi
    # best judge per annotator = the judge with the highest per-annotator kappa
    for a, best in out["best_judge_per_annotator"].items():
        ks = {jn: out["judges"][jn]["per_annotator"][a]["kappa_quadratic"]["estimate"] for jn in jt.columns}
        assert best["judge"] == max(ks, key=ks.get)


def test_suite_is_seed_reproducible():
    items, human, jt = _random_study(2)
    a = agreement_suite(items, human, jt, boot=ClusterBootstrap(items["cluster"], n_reps=100, seed=4))
    b = agreement_suite(items, human, jt, boot=ClusterBootstrap(items["cluster"], n_reps=100, seed=4))
    c = agreement_suite(items, human, jt, boot=ClusterBootstrap(items["cluster"], n_reps=100, seed=5))
    assert a == b
    assert a["judges"]["judge-1"]["kappa_quadratic"]["ci"] != c["judges"]["judge-1"]["kappa_quadratic"]["ci"]


def test_suite_without_annotators_or_judges():
    items = pd.DataFrame({"item_id": ["i1", "i2"], "cluster": ["i1", "i2"]})
    human = pd.DataFrame({"item_id": ["i1", "i2"], "annotator": ["A", "A"], "rating": [3, 4]})
    out = agreement_suite(items, human, pd.DataFrame(index=pd.Index(["i1", "i2"], name="item_id")),
                          boot=ClusterBootstrap(["i1", "i2"], n_reps=20))
    assert out["judges"] == {}
    assert "reason" in out["ceiling"]
    assert out["krippendorff_alpha"]["estimate"] is None
    assert out["matrix"]["kappa_matrix"] is None


# Shrout & Fleiss (1979), Table 2: six targets rated by four judges. Published (Table 4):
# ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71, ICC(1,4) = .44, ICC(2,4) = .62, ICC(3,4) = .91;
# mean squares (Table 3): BMS = 11.24, WMS = 6.26, JMS = 32.49, EMS = 1.02.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_reproduces_shrout_fleiss_1979():
    human = pd.DataFrame([(f"t{i}", f"judge-{k}", v) for i, row in enumerate(SHROUT_FLEISS) for k, v in enumerate(row)],
                         columns=["item_id", "annotator", "rating"])
    out = icc_estimate(human)
    forms = out["forms"]
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for name, value in published.items():
        assert forms[name]["icc"] == pytest.approx(value, abs=0.005), name
    # exact, from the two-way ANOVA mean squares (n = 6 targets, k = 4 judges)
    x = np.array(SHROUT_FLEISS, float)
    n, k = x.shape
    g = x.mean()
    bms = k * ((x.mean(axis=1) - g) ** 2).sum() / (n - 1)
    jms = n * ((x.mean(axis=0) - g) ** 2).sum() / (k - 1)
    ems = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + g) ** 2).sum() / ((n - 1) * (k - 1))
    assert (bms, jms, ems) == (pytest.approx(11.24, abs=0.005), pytest.approx(32.49, abs=0.005),
                               pytest.approx(1.02, abs=0.005))
    icc2 = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    assert out["estimate"] == pytest.approx(icc2, abs=1e-12)
    assert out["form"] == "ICC2" and out["n"] == 6
    # the F test of ICC2: F = BMS / EMS on (5, 15) df
    assert forms["ICC2"]["F"] == pytest.approx(bms / ems)
    assert out["p_value"] == pytest.approx(stats_f.sf(bms / ems, 5, 15))
    # CI not rounded by pingouin (its default rounds CI95 to 2 decimals)
    assert out["ci"][0] != round(out["ci"][0], 2)


def test_icc_falls_back_to_one_way_for_an_incomplete_design():
    items, human, _ = _random_study(3, n=40)
    out = icc_estimate(human)
    assert out["form"] == "ICC1" and out["n_raters"] == 3 and out["n"] == 40
    assert "case 1" in out["method"]
    few = icc_estimate(human[human["item_id"].isin(["i0", "i1"])])
    assert few["estimate"] is None and "at least 5 items" in few["reason"]


def test_suite_p_values_are_the_textbook_tests_when_items_are_the_clusters():
    items, human, jt = _random_study(5)
    items = items.assign(cluster=items["item_id"])
    out = agreement_suite(items, human, jt, boot=ClusterBootstrap(items["cluster"], n_reps=100, seed=0))
    wide = human.pivot(index="item_id", columns="annotator", values="rating")
    j = jt["judge-1"]
    hm = wide.mean(axis=1)[j.index]
    assert out["judges"]["judge-1"]["spearman"]["p_value"] == pytest.approx(spearmanr(j, hm).pvalue)
    assert out["judges"]["judge-1"]["kendall"]["p_value"] == pytest.approx(kendalltau(j, hm).pvalue)
    assert out["judges"]["judge-1"]["kappa_quadratic"]["p_value"] is None


def _icc_by_hand(x: np.ndarray) -> dict:
    """Shrout & Fleiss (1979) ICCs from the two-way ANOVA mean squares of a targets x raters array."""
    n, k = x.shape
    g = x.mean()
    bms = k * ((x.mean(axis=1) - g) ** 2).sum() / (n - 1)
    jms = n * ((x.mean(axis=0) - g) ** 2).sum() / (k - 1)
    ems = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + g) ** 2).sum() / ((n - 1) * (k - 1))
    wms = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    return {"ICC1": (bms - wms) / (bms + (k - 1) * wms),
            "ICC2": (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
            "ICC3": (bms - ems) / (bms + (k - 1) * ems),
            "ICC1k": (bms - wms) / bms, "ICC2k": (bms - ems) / (bms + (jms - ems) / n), "ICC3k": (bms - ems) / bms}


def test_icc_matches_the_anova_formulas_on_random_data():
    rng = np.random.default_rng(12)
    for _ in range(20):
        n, k = int(rng.integers(5, 30)), int(rng.integers(2, 6))
        x = np.clip(np.rint(rng.normal(3, 1, (n, 1)) + rng.normal(0, 0.8, (n, k))), 1, 5)
        if np.ptp(x) == 0:
            continue
        human = pd.DataFrame([(f"t{i}", f"r{j}", x[i, j]) for i in range(n) for j in range(k)],
                             columns=["item_id", "annotator", "rating"])
        forms = icc_estimate(human)["forms"]
        for name, value in _icc_by_hand(x).items():
            assert forms[name]["icc"] == pytest.approx(value, abs=1e-9), name
