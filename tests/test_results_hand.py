"""Every results.json number on a small dataset whose answers were computed by hand.

Six items, mentions given by the user (so the flagger plays no part), two imported judges named
after the two generators (so their generator habit is known from the data).

item  gen  mention  human ratings  human mean   gA  gB
i1    gA   yes      4 4 5          13/3         5   4
i2    gA   yes      3 3 3          3            5   3
i3    gA   no       2 3 4          3            3   3
i4    gB   no       1 2            1.5          2   1
i5    gB   no       4 5            4.5          4   5
i6    gB   yes      2 2 2          2            4   2
"""

import json

import pytest
from click.testing import CliRunner
from scipy import stats

from audit.cli import cli

ROWS = [
    ("i1", "gA", True, [4, 4, 5], 5, 4),
    ("i2", "gA", True, [3, 3, 3], 5, 3),
    ("i3", "gA", False, [2, 3, 4], 3, 3),
    ("i4", "gB", False, [1, 2], 2, 1),
    ("i5", "gB", False, [4, 5], 4, 5),
    ("i6", "gB", True, [2, 2, 2], 4, 2),
]
HUMAN_MEAN = [13 / 3, 3, 3, 1.5, 4.5, 2]
GA = [5, 5, 3, 2, 4, 4]
GB = [4, 3, 3, 1, 5, 2]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hand")
    data = tmp / "hand.jsonl"
    with data.open("w") as fh:
        for item_id, gen, mention, humans, a, b in ROWS:
            fh.write(json.dumps({
                "id": item_id, "user_id": f"user-{item_id}", "prompt": f"prompt {item_id}", "attributes": ["attr"],
                "generic": "g", "personalized": "p", "generator": gen, "mention": mention,
                "human_ratings": [{"annotator": f"annotator-{k}", "rating": r} for k, r in enumerate(humans)],
                "judge_ratings": [{"judge": "gA", "rating": a}, {"judge": "gB", "rating": b}],
            }) + "\n")
    result = CliRunner().invoke(cli, ["run", "--data", str(data), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    return json.loads((tmp / "out" / "results.json").read_text())


def test_counts(results):
    assert results["n_items"] == 6
    assert results["n_items_with_human_ratings"] == 6
    assert results["n_mention"] == 3
    assert set(results["judges"]) == {"gA", "gB"}
    assert results["judges"]["gA"]["source"] == "imported"
    assert results["judges"]["gA"]["n_calls"] == 0


def test_inflation(results):
    # gA: diffs 5-13/3, 5-3, 3-3, 2-1.5, 4-4.5, 4-2 = 2/3, 2, 0, 1/2, -1/2, 2 -> sum 14/3 -> mean 7/9
    # gB: diffs -1/3, 0, 0, -1/2, 1/2, 0 -> sum -1/3 -> mean -1/18
    assert results["judges"]["gA"]["inflation"]["estimate"] == pytest.approx(7 / 9)
    assert results["judges"]["gB"]["inflation"]["estimate"] == pytest.approx(-1 / 18)
    for judge, ratings in (("gA", GA), ("gB", GB)):
        est = results["judges"][judge]["inflation"]
        assert est["n"] == 6
        lo, hi = est["ci"]
        assert lo < est["estimate"] < hi
        # paired test against an independent implementation
        assert est["p_value"] == pytest.approx(stats.ttest_rel(ratings, HUMAN_MEAN).pvalue, rel=1e-9)


def test_mention_delta(results):
    # gA: mention items i1,i2,i6 -> 5,5,4 (mean 14/3); others i3,i4,i5 -> 3,2,4 (mean 3) -> 5/3
    # gB: mention 4,3,2 (mean 3); others 3,1,5 (mean 3) -> 0
    # humans: mention 13/3, 3, 2 (mean 28/9); others 3, 1.5, 4.5 (mean 3) -> 1/9
    ga, gb, hu = (results["judges"]["gA"]["mention_delta"], results["judges"]["gB"]["mention_delta"],
                  results["humans"]["mention_delta"])
    assert ga["estimate"] == pytest.approx(5 / 3)
    assert gb["estimate"] == pytest.approx(0)
    assert hu["estimate"] == pytest.approx(1 / 9)
    assert (ga["n_mention"], ga["n_no_mention"]) == (3, 3)
    assert ga["p_value"] == pytest.approx(stats.ttest_ind([5, 5, 4], [3, 2, 4], equal_var=False).pvalue, rel=1e-9)


def test_spearman(results):
    # ranks gA: [5.5, 5.5, 2, 1, 3.5, 3.5]; humans: [5, 3.5, 3.5, 1, 6, 2]; deviations from 3.5:
    # gA [2, 2, -1.5, -2.5, 0, 0], humans [1.5, 0, 0, -2.5, 2.5, -1.5] -> cross 9.25, SS 16.5 and 17
    # rho = 9.25 / sqrt(16.5 * 17) = 0.55228...
    assert results["judges"]["gA"]["spearman"]["estimate"] == pytest.approx(9.25 / (16.5 * 17) ** 0.5)
    assert results["judges"]["gA"]["spearman"]["p_value"] == pytest.approx(stats.spearmanr(GA, HUMAN_MEAN).pvalue, rel=1e-9)


def test_no_better_rate_and_generators(results):
    # mean human <= 3: i2 (3), i3 (3), i4 (1.5), i6 (2) -> 4/6
    assert results["humans"]["no_better_rate"]["estimate"] == pytest.approx(4 / 6)
    assert results["humans"]["no_better_rate"]["k"] == 4
    ga, gb = results["generators"]["gA"], results["generators"]["gB"]
    assert ga["no_better_rate"]["estimate"] == pytest.approx(2 / 3)  # i2, i3 of i1..i3
    assert gb["no_better_rate"]["estimate"] == pytest.approx(2 / 3)  # i4, i6 of i4..i6
    assert ga["mention_rate"]["estimate"] == pytest.approx(2 / 3)  # i1, i2
    assert gb["mention_rate"]["estimate"] == pytest.approx(1 / 3)  # i6
    assert ga["mean_human_rating"] == pytest.approx((13 / 3 + 3 + 3) / 3)


def test_habits_and_habit_bias(results):
    assert results["judges"]["gA"]["habit"]["mention_rate"] == pytest.approx(2 / 3)
    assert results["judges"]["gB"]["habit"]["mention_rate"] == pytest.approx(1 / 3)
    assert results["judges"]["gA"]["habit"]["source"] == "data"
    hb = results["habit_bias"]
    assert hb["spearman_r"] is None and hb["n_models"] == 2
    assert "at least 3 models" in hb["reason"]


def test_habit_bias_with_three_models():
    from audit.stats.measure import habit_bias

    # habit ranks 1,2,3; delta ranks 1,3,2 -> d = 0,-1,1 -> rho = 1 - 6*2/(3*(9-1)) = 0.5
    out = habit_bias({"a": 0.1, "b": 0.5, "c": 0.9}, {"a": -0.2, "b": 0.3, "c": 0.1})
    assert out["spearman_r"] == pytest.approx(0.5)
    assert out["n_models"] == 3 and out["models"] == ["a", "b", "c"]
